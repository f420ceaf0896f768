import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { adminApi, type AdminApi } from './admin.js';
import { startTestGateway, type TestGateway } from './gateway.js';

/**
 * The admin page in a real browser: Debian's Chromium driven by playwright-core (no bundled
 * browser to download). CI installs it (.ci/run); elsewhere the suite is listed as skipped, with a
 * title that says how to run it, rather than vanishing.
 */

export const CHROMIUM = '/usr/bin/chromium';

/** Where the screenshots go (git-ignored); the README's docs/admin-ui.png is copied from here. */
export const ARTIFACTS = new URL('../artifacts/', import.meta.url);

/** Every wait in a browser test ends here at the latest: a missing element fails, never hangs. */
const WAIT_MS = 10_000;

export interface BrowserSuite {
  readonly sim: SimLiteLLM;
  readonly gateway: TestGateway;
  readonly admin: AdminApi;
  readonly browser: Browser;
}

export function describeInChromium(name: string, fn: (suite: BrowserSuite) => void): void {
  const available = existsSync(CHROMIUM) || process.env.CI !== undefined;
  describe.skipIf(!available)(available ? name : `${name} (apt-get install chromium to run)`, () => {
    const suite = {} as { sim: SimLiteLLM; gateway: TestGateway; admin: AdminApi; browser: Browser };
    beforeAll(async () => {
      suite.sim = await startSimLiteLLM();
      suite.gateway = await startTestGateway({ LITELLM_BASE_URL: suite.sim.url });
      suite.admin = adminApi(suite.gateway.url);
      suite.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'], timeout: WAIT_MS });
    });
    afterAll(async () => {
      await suite.browser?.close();
      await suite.gateway?.shutdown();
      await suite.sim?.close();
    });
    fn(suite);
  });
}

export interface AdminPage {
  readonly page: Page;
  /** Console errors and uncaught exceptions: a script or style the CSP refused shows up here. */
  readonly problems: string[];
  close(): Promise<void>;
}

/** The admin page in a fresh browser context (its own session storage), loaded and ready for the key. */
export async function openAdminPage(
  suite: BrowserSuite,
  options: { viewport?: { width: number; height: number }; fakeClock?: boolean } = {},
): Promise<AdminPage> {
  const context = await suite.browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 900 } });
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    // Chromium logs every 4xx answer; the page shows those (401, 422) itself, so they are no problem.
    const answered = /^Failed to load resource: the server responded with a status of 4\d\d\b/.test(message.text());
    if (message.type() === 'error' && !answered) problems.push(message.text());
  });
  page.on('pageerror', (err) => problems.push(err.message));
  if (options.fakeClock) await page.clock.install();
  await page.goto(`${suite.gateway.url}/admin/ui`);
  await page.getByLabel('Admin key').waitFor();
  return { page, problems, close: () => context.close() };
}

export async function signIn(page: Page, key: string): Promise<void> {
  await page.getByLabel('Admin key').fill(key);
  await page.getByLabel('Admin key').press('Enter');
}

/** A tenant's card, found the way a person finds it: by the heading with its id. */
export function tenantCard(page: Page, tenantId: string): Locator {
  return page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: tenantId, exact: true }) });
}

/** Resolves once the locator's text matches; fails after the wait limit with what it saw. */
export async function expectText(locator: Locator, expected: string | RegExp): Promise<void> {
  await expect.poll(() => locator.innerText({ timeout: 1_000 }), { timeout: WAIT_MS }).toMatch(expected);
}

export function screenshotPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return new URL(name, ARTIFACTS).pathname;
}
