import { beforeAll, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { TEST_ADMIN_KEY } from '../support/gateway.js';
import { recordSpend } from '../support/ledger.js';
import { describeInChromium, expectText, openAdminPage, signIn, tenantCard } from '../support/browser.js';

/** The admin page for everyone: a wrong key, a phone-sized screen, a keyboard alone, and WCAG AA contrast. */

const USD = 1_000_000;

describeInChromium('the admin page in Chromium: access', (suite) => {
  beforeAll(async () => {
    await suite.gateway.createTenant({ tenantId: 'acme', name: 'Acme Corp', maxBudgetMicros: 100 * USD });
    await recordSpend(suite.gateway.db, 'acme', 95 * USD);
  });

  it('says clearly when the key is wrong, keeps nothing, and lets the admin try again', async () => {
    const { page, problems, close } = await openAdminPage(suite);
    await signIn(page, 'not-the-admin-key');
    const alert = page.getByRole('alert');
    await expectText(alert, 'The admin key was not accepted (401). Check the ADMIN_API_KEY the gateway runs with, then sign in again.');
    expect(await page.getByLabel('Admin key').getAttribute('aria-invalid')).toBe('true');
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expect(await page.getByRole('heading', { name: 'Tenants' }).isVisible()).toBe(false);

    await signIn(page, TEST_ADMIN_KEY);
    await expectText(tenantCard(page, 'acme'), /\$95\.00 of \$100\.00/);
    expect(await page.getByText('was not accepted').count()).toBe(0);
    expect(problems).toEqual([]);
    await close();
  });

  it('fits a phone-sized screen: one column, nothing wider than the screen, every action in reach', async () => {
    const width = 375;
    const { page, problems, close } = await openAdminPage(suite, { viewport: { width, height: 740 } });
    await signIn(page, TEST_ADMIN_KEY);
    const acme = tenantCard(page, 'acme');
    await expectText(acme, /\$95\.00 of \$100\.00/);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(width);
    for (const button of await acme.getByRole('button').all()) {
      const box = (await button.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(width);
      expect(box.height).toBeGreaterThanOrEqual(40); // a finger-sized target
    }
    await acme.getByRole('button', { name: 'Grant override to acme' }).click();
    const dialog = page.getByRole('dialog', { name: 'Grant a budget override' });
    const box = (await dialog.boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(width);
    expect(problems).toEqual([]);
    await close();
  });

  it('works by keyboard alone: sign in, reach a tenant action, open and leave the grant form', async () => {
    const { page, problems, close } = await openAdminPage(suite);
    await page.keyboard.type(TEST_ADMIN_KEY); // the key field has the focus on arrival
    await page.keyboard.press('Enter');
    await expectText(tenantCard(page, 'acme'), /\$95\.00 of \$100\.00/);

    const grant = 'Grant override to acme';
    expect(await tabUntil(page, grant)).toBe(true);
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Grant a budget override' });
    await dialog.waitFor();
    expect(await focusedLabel(page)).toBe('grant-amount');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(await focusedLabel(page)).toBe(grant);
    expect(problems).toEqual([]);
    await close();
  });

  it('keeps every text at a WCAG AA contrast of at least 4.5:1, dialogs and error messages included', async () => {
    const { page, problems, close } = await openAdminPage(suite);
    await signIn(page, 'not-the-admin-key');
    await expectText(page.getByRole('alert'), /not accepted/);
    expect(await lowContrastTexts(page)).toEqual([]);

    await signIn(page, TEST_ADMIN_KEY);
    const acme = tenantCard(page, 'acme');
    await expectText(acme, /\$95\.00 of \$100\.00/);
    expect(await lowContrastTexts(page)).toEqual([]);

    await acme.getByRole('button', { name: 'Grant override to acme' }).click();
    const dialog = page.getByRole('dialog', { name: 'Grant a budget override' });
    await dialog.getByRole('button', { name: 'Grant override' }).click();
    await expect.poll(() => dialog.getByLabel('Reason').getAttribute('aria-invalid')).toBe('true');
    expect(await lowContrastTexts(page)).toEqual([]);
    expect(problems).toEqual([]);
    await close();
  });
});

/** Presses Tab until the focused element is named `name`; false if it never is. */
async function tabUntil(page: Page, name: string): Promise<boolean> {
  for (let presses = 0; presses < 20; presses++) {
    await page.keyboard.press('Tab');
    if ((await focusedLabel(page)) === name) return true;
  }
  return false;
}

/** The focused element's aria-label, else its id. */
function focusedLabel(page: Page): Promise<string | null> {
  return page.evaluate("document.activeElement.getAttribute('aria-label') ?? document.activeElement.id");
}

/**
 * Every visible text whose colour against its (first opaque) background is below 4.5:1, by the
 * WCAG 2 relative-luminance formula. Written as a string: it runs in the page, not in Node.
 */
function lowContrastTexts(page: Page): Promise<string[]> {
  return page.evaluate(`(() => {
    const rgb = (css) => css.match(/[\\d.]+/g).map(Number);
    const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    const background = (node) => {
      for (; node; node = node.parentElement) {
        const parts = rgb(getComputedStyle(node).backgroundColor);
        if (parts.length === 3 || parts[3] === 1) return parts.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const failures = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
      const node = text.parentElement;
      if (text.textContent.trim() === '' || !node.checkVisibility()) continue;
      const [l1, l2] = [luminance(rgb(getComputedStyle(node).color)), luminance(background(node))].sort((a, b) => b - a);
      const ratio = (l1 + 0.05) / (l2 + 0.05);
      if (ratio < 4.5) failures.push(text.textContent.trim().slice(0, 40) + ': ' + ratio.toFixed(2));
    }
    return failures;
  })()`);
}
