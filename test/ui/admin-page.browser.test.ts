import { beforeAll, expect, it } from 'vitest';
import { TEST_ADMIN_KEY } from '../support/gateway.js';
import { recordSpend } from '../support/ledger.js';
import { describeInChromium, expectText, openAdminPage, screenshotPath, signIn, tenantCard } from '../support/browser.js';

/**
 * The admin page as an admin uses it, in Chromium against a real gateway: sign in, read spend,
 * grant and remove an override, reset, and watch the page follow changes made elsewhere.
 */

const USD = 1_000_000;

describeInChromium('the admin page in Chromium', (suite) => {
  beforeAll(async () => {
    // This file's database is its own, so the tenants can have the names a person would give them.
    for (const [tenantId, name, spendUsd] of [
      ['acme', 'Acme Corp', 110],
      ['globex', 'Globex', 85],
      ['initech', 'Initech', 12.5],
    ] as const) {
      await suite.gateway.createTenant({ tenantId, name, maxBudgetMicros: 100 * USD });
      await recordSpend(suite.gateway.db, tenantId, spendUsd * USD);
    }
    // A tenant with more budgets than its own (CONTRACT section 11); its model budget is used up.
    const umbrella = { max_budget: 100, name: 'Umbrella', model_budgets: { 'gpt-4o-mini': { max_budget: 1 } }, max_requests: 1000 };
    expect((await suite.admin.put('/tenants/umbrella', umbrella)).status).toBe(201);
    await recordSpend(suite.gateway.db, 'umbrella', 1.5 * USD);
  });

  it('signs in once per tab, sends the key as a bearer token on every admin call, and shows spend against budget', async () => {
    const { page, problems, close } = await openAdminPage(suite);
    const adminCalls: { path: string; authorization: string | undefined }[] = [];
    page.on('request', (req) => {
      const path = new URL(req.url()).pathname;
      if (path.startsWith('/admin/') && path !== '/admin/ui') adminCalls.push({ path, authorization: req.headers().authorization });
    });
    await signIn(page, TEST_ADMIN_KEY);

    const acme = tenantCard(page, 'acme');
    await expectText(acme, /Tenant budget\s+\$110\.00 of \$100\.00 \(110 %\)/);
    await expectText(acme, /Alert at \$80\.00 · blocked at \$110\.00/);
    await expectText(acme, /Period ends\s+.+\(in 29 d 23 h\)\s+Override\s+none/);
    await expectText(acme.locator('.status'), 'Blocked');
    await expectText(tenantCard(page, 'globex').locator('.status'), 'Alert');
    await expectText(tenantCard(page, 'initech').locator('.status'), 'OK');
    // Most urgent first.
    expect(await page.getByRole('heading', { level: 3 }).allInnerTexts()).toEqual(['acme', 'globex', 'initech', 'umbrella']);

    // The key lives in this tab's session storage only: not in a cookie, not in the URL.
    expect(await page.evaluate('Object.values(sessionStorage)')).toEqual([TEST_ADMIN_KEY]);
    expect(await page.context().cookies()).toEqual([]);
    await page.reload();
    await expectText(tenantCard(page, 'acme'), /\$110\.00 of \$100\.00/);
    expect(adminCalls.length).toBeGreaterThanOrEqual(4);
    for (const call of adminCalls) expect(call).toEqual({ path: call.path, authorization: `Bearer ${TEST_ADMIN_KEY}` });
    expect(page.url()).toBe(`${suite.gateway.url}/admin/ui`);

    const otherTab = await page.context().newPage();
    await otherTab.goto(`${suite.gateway.url}/admin/ui`);
    await otherTab.getByLabel('Admin key').waitFor();
    expect(await otherTab.getByRole('heading', { name: 'Tenants' }).isVisible()).toBe(false);
    expect(problems).toEqual([]);
    await close();
  });

  it("shows the API's own validation messages beside the grant form's fields", async () => {
    const { page, problems, close } = await openAdminPage(suite);
    await signIn(page, TEST_ADMIN_KEY);
    const invalid = { override_amount: 0, duration: '1mo', reason: 'too short' };
    const answer = await suite.admin.post('/tenants/acme/budget-override', invalid);
    expect(answer.status).toBe(422);
    const apiMessage = (path: string) => answer.body.error.details.find((d: { path: string }) => d.path === path).message as string;

    await tenantCard(page, 'acme').getByRole('button', { name: 'Grant override to acme' }).click();
    const dialog = page.getByRole('dialog', { name: 'Grant a budget override' });
    await dialog.getByLabel('Amount (USD)').fill('0');
    await dialog.getByLabel('Duration').fill(invalid.duration);
    await dialog.getByLabel('Reason').fill(invalid.reason);
    await dialog.getByRole('button', { name: 'Grant override' }).click();

    for (const [label, path] of [['Amount (USD)', 'override_amount'], ['Duration', 'duration'], ['Reason', 'reason']] as const) {
      const field = dialog.getByLabel(label);
      await expect.poll(() => field.getAttribute('aria-invalid')).toBe('true');
      const errorId = (await field.getAttribute('aria-describedby'))!.split(' ').find((id) => id.endsWith('-error'))!;
      expect(await dialog.locator(`#${errorId}`).innerText()).toBe(apiMessage(path));
    }
    expect(await dialog.isVisible()).toBe(true);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect((await suite.admin.get('/tenants/acme')).body.override).toBeNull();
    expect(problems).toEqual([]);
    await close();
  });

  it('grants an override, shows the status change and the time left, and removes it once confirmed', async () => {
    const { page, problems, close } = await openAdminPage(suite);
    await signIn(page, TEST_ADMIN_KEY);
    const acme = tenantCard(page, 'acme');
    await acme.getByRole('button', { name: 'Grant override to acme' }).click();
    const dialog = page.getByRole('dialog', { name: 'Grant a budget override' });
    await dialog.getByLabel('Reason').fill('quarter-end batch jobs');
    await dialog.getByLabel('Duration').fill('24h');
    await dialog.getByLabel('Amount (USD)').fill('50');
    await dialog.getByLabel('Amount (USD)').press('Enter');
    await dialog.waitFor({ state: 'hidden' });

    await expectText(acme.locator('.status'), 'OK');
    await expectText(acme, /\$110\.00 of \$150\.00 \(73\.3 %\)/);
    await expectText(acme, /Override\s+\$50\.00 until .+ \(23 h 59 min left\), by admin:[0-9a-f]{8}: quarter-end batch jobs/);
    await page.screenshot({ path: screenshotPath('admin-ui.png'), fullPage: true });

    await acme.getByRole('button', { name: 'Remove override of acme' }).click();
    const confirm = page.getByRole('dialog', { name: 'Remove the override?' });
    await expectText(confirm, /End the \$50\.00 override of acme now; its budget goes back to \$100\.00\./);
    await confirm.getByRole('button', { name: 'Remove override' }).click();
    await confirm.waitFor({ state: 'hidden' });
    await expectText(acme.locator('.status'), 'Blocked');
    await expectText(acme, /Override\s+none/);
    await expect.poll(() => page.locator('#audit .event').allInnerTexts()).toEqual(
      expect.arrayContaining(['budget_override_removed', 'budget_override_granted']),
    );
    const events = await page.locator('#audit .event').allInnerTexts();
    expect(events.indexOf('budget_override_removed')).toBeLessThan(events.indexOf('budget_override_granted'));
    expect((await suite.admin.get('/tenants/acme')).body).toMatchObject({ status: 'blocked', override: null });
    expect(problems).toEqual([]);
    await close();
  });

  it('resets a budget only once confirmed', async () => {
    const { page, problems, close } = await openAdminPage(suite);
    await signIn(page, TEST_ADMIN_KEY);
    const initech = tenantCard(page, 'initech');
    const confirm = page.getByRole('dialog', { name: 'Reset the budget?' });

    await initech.getByRole('button', { name: 'Reset budget of initech' }).click();
    await expectText(confirm, /Start a new period for initech now: its spend goes back to \$0 \(\$12\.50 spent so far\)/);
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'hidden' });
    expect((await suite.admin.get('/tenants/initech')).body.spend).toBe(12.5);

    await initech.getByRole('button', { name: 'Reset budget of initech' }).click();
    await confirm.getByRole('button', { name: 'Reset budget' }).click();
    await expectText(initech, /\$0\.00 of \$100\.00 \(0 %\)/);
    expect((await suite.admin.get('/tenants/initech')).body.spend).toBe(0);
    expect(problems).toEqual([]);
    await close();
  });

  it('shows every budget a tenant is checked against: its own, a model budget, its request limit, the global cap', async () => {
    expect((await suite.admin.put('/budgets/global', { max_budget: 1000 })).status).toBe(201);
    try {
      const { page, problems, close } = await openAdminPage(suite);
      await signIn(page, TEST_ADMIN_KEY);
      const umbrella = tenantCard(page, 'umbrella');
      await expectText(umbrella, /Tenant budget\s+\$1\.50 of \$100\.00 \(1\.5 %\)/);
      await expectText(umbrella, /Model gpt-4o-mini\s+\$1\.50 of \$1\.00 \(150 %\) · Blocked\s+Alert at \$0\.80 · blocked at \$1\.10/);
      await expectText(umbrella, /Tenant requests\s+1 request of 1,000 requests \(0\.1 %\) · OK/);
      await expectText(umbrella, /Global cap\s+\$[\d.,]+ of \$1,000\.00 \([\d.]+ %\) · OK\s+Shared by all tenants/);
      // The tenant's own status stays its own budget's: the model budget refuses only that model.
      await expectText(umbrella.locator('.status'), 'OK');
      expect(problems).toEqual([]);
      await close();
    } finally {
      await suite.admin.delete('/budgets/global');
    }
  });

  it('refreshes on its own: a change made elsewhere appears without a reload', async () => {
    const { page, problems, close } = await openAdminPage(suite, { fakeClock: true });
    await signIn(page, TEST_ADMIN_KEY);
    const globex = tenantCard(page, 'globex');
    await expectText(globex, /Override\s+none/);

    const grant = { override_amount: 20, duration: '2h', reason: 'granted from the command line' };
    expect((await suite.admin.post('/tenants/globex/budget-override', grant)).status).toBe(201);
    expect(await globex.innerText()).toMatch(/Override\s+none/);
    await page.clock.fastForward(10_000);
    await expectText(globex, /Override\s+\$20\.00 until .+ \(1 h 59 min left\)/);
    expect(problems).toEqual([]);
    await close();
  });
});
