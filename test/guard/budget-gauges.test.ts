import { expect, it } from 'vitest';
import { adminApi, type AdminApi } from '../support/admin.js';
import { sample, withSimAndGateway, type TestTenant } from '../support/gateway.js';
import { forEachStore } from '../support/stores.js';

const HOUR = 3_600_000;
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };

/**
 * The per-tenant budget gauges (CONTRACT section 10) read as the budget stands at the scrape,
 * not as the tenant's last request left them: a blocked tenant whose budget came back without a
 * request (an admin's reset, a new period, a larger budget) must not keep its alert firing, nor
 * one whose override expired stay unalerted.
 */
forEachStore('the budget gauges at a scrape', (store) => {
  let clock = Date.parse('2026-11-23T10:00:00.000Z');
  const suite = withSimAndGateway(store.env(), {}, { now: () => clock });
  const admin = (): AdminApi => adminApi(suite.gateway.url);

  const series = (tenant: TestTenant) => `{tenant="${tenant.tenantId}",scope="tenant"}`;
  const gauges = async (tenant: TestTenant) => {
    const text = await suite.gateway.metrics();
    return { budget: sample(text, `budget_gateway_tenant_budget_usd${series(tenant)}`), utilization: sample(text, `budget_gateway_tenant_utilization_ratio${series(tenant)}`) };
  };

  it("reads a tenant's budget and spend as of the scrape after an admin's reset", async () => {
    const tenant = await suite.gateway.createTenant({ maxBudgetMicros: 100 });
    const client = suite.gateway.client({ apiKey: tenant.key });
    // 11 µ$ an answer against a line of 110: refused from the eleventh on.
    for (let i = 0; i < 10; i++) await client.chat.completions.create(chat);
    await expect(client.chat.completions.create(chat)).rejects.toMatchObject({ status: 402 });
    await expect.poll(async () => (await gauges(tenant)).utilization).toBeGreaterThanOrEqual(1.1);

    expect((await admin().post(`/tenants/${tenant.tenantId}/budget-reset`)).status).toBe(200);
    expect(await gauges(tenant)).toEqual({ budget: 0.0001, utilization: 0 });
  });

  it('reads 0 from the start of a new period, with no request since', async () => {
    const tenant = await suite.gateway.createTenant({ maxBudgetMicros: 100, budgetDuration: '1h', firstPeriod: { startedAt: new Date(clock), resetAt: new Date(clock + HOUR) } });
    const client = suite.gateway.client({ apiKey: tenant.key });
    for (let i = 0; i < 10; i++) await client.chat.completions.create(chat);
    await expect.poll(async () => (await gauges(tenant)).utilization).toBeCloseTo(1.1, 9);

    clock += HOUR;
    expect(await gauges(tenant)).toEqual({ budget: 0.0001, utilization: 0 });
  });

  it("follows an override's grant and its expiry, and drops the series of a deleted tenant", async () => {
    const tenant = await suite.gateway.createTenant({ maxBudgetMicros: 100, budgetDuration: '30d', firstPeriod: { startedAt: new Date(clock), resetAt: new Date(clock + 720 * HOUR) } });
    const client = suite.gateway.client({ apiKey: tenant.key });
    for (let i = 0; i < 5; i++) await client.chat.completions.create(chat);
    await expect.poll(async () => (await gauges(tenant)).utilization).toBeCloseTo(0.55, 9);

    const granted = await admin().post(`/tenants/${tenant.tenantId}/budget-override`, { override_amount: 0.0001, duration: '1h', reason: 'a short test grant' });
    expect(granted.body).toMatchObject({ success: true });
    expect(await gauges(tenant)).toEqual({ budget: 0.0002, utilization: 0.275 });
    // The override ends to the second, whether or not the clean-up job has run.
    clock += HOUR;
    expect(await gauges(tenant)).toEqual({ budget: 0.0001, utilization: 0.55 });

    expect((await admin().delete(`/tenants/${tenant.tenantId}`)).status).toBe(200);
    // Its budget, utilization and threshold series all go (its spend counter stays, as counters do).
    expect(await suite.gateway.metrics()).not.toMatch(new RegExp(`budget_gateway_tenant_(budget_usd|utilization_ratio|threshold_ratio)\\{tenant="${tenant.tenantId}"`));
  });

  it("exports the tenant's own alert and block thresholds beside its utilization, as an admin sets them", async () => {
    const tenant = await suite.gateway.createTenant({ maxBudgetMicros: 100 });
    expect((await admin().put(`/tenants/${tenant.tenantId}`, { max_budget: 0.0001, alert_thresholds: [50, 75], grace_threshold: 150 })).status).toBe(200);
    await suite.gateway.client({ apiKey: tenant.key }).chat.completions.create(chat);
    const thresholds = async () => {
      const text = await suite.gateway.metrics();
      const line = (name: string) => sample(text, `budget_gateway_tenant_threshold_ratio{tenant="${tenant.tenantId}",scope="tenant",line="${name}"}`);
      return { alert: line('alert'), block: line('block') };
    };
    expect(await thresholds()).toEqual({ alert: 0.5, block: 1.5 });

    expect((await admin().put(`/tenants/${tenant.tenantId}`, { max_budget: 0.0001, alert_threshold: 90, grace_threshold: 100 })).status).toBe(200);
    expect(await thresholds()).toEqual({ alert: 0.9, block: 1 });
  });
});
