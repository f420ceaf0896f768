import { afterAll, beforeAll, expect, it } from 'vitest';
import { formatUsd } from '../../src/budget/money.js';
import { tenantBucket } from '../../src/budget/scopes.js';
import { getTenant } from '../../src/db/tenants.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { auditEvents, outboxEvents, waitForLedgerRows } from '../support/ledger.js';
import { chat, JOBS_BY_HAND, streamInFlight } from '../support/resets.js';
import { forEachStore } from '../support/stores.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
// Years ahead of the wall clock: Redis expires a bucket by real time, a day after its period
// ends, so a period already past would be gone as soon as it was written (from 2026-11-23 on).
const T0 = Date.UTC(2036, 10, 22, 10, 0, 0);
const iso = (ms: number): string => new Date(ms).toISOString();
const sum = (costs: number[]): number => costs.reduce((a, b) => a + b, 0);

forEachStore('the budget reset job (a controllable clock)', (store) => {
  let sim: SimLiteLLM;
  let gateway: TestGateway;
  let clock = T0;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    const env = { LITELLM_BASE_URL: sim.url, LITELLM_MASTER_KEY: 'sk-master-test', ...JOBS_BY_HAND, ...store.env() };
    gateway = await startTestGateway(env, { now: () => clock });
  });
  afterAll(async () => {
    await gateway.shutdown();
    await sim.close();
  });

  const hourly = () => gateway.createTenant({ budgetDuration: '1h', firstPeriod: { startedAt: new Date(T0), resetAt: new Date(T0 + HOUR) } });

  it('starts the new period at the boundary with a request in flight across it, and the job records it once', async () => {
    clock = T0;
    const tenant = await hourly();
    clock = T0 + 30 * MIN;
    expect((await chat(gateway, tenant)).status).toBe(200);
    const inFlight = await streamInFlight(gateway, tenant);

    clock = T0 + HOUR;
    const fresh = await chat(gateway, tenant);
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('x-budget-spend')).toBe('0');
    expect(fresh.headers.get('x-budget-reset-at')).toBe(iso(T0 + 2 * HOUR));
    expect(sim.inFlight()).toBe(1);
    await inFlight.finish();

    const rows = await waitForLedgerRows(gateway.db, tenant.tenantId, 3);
    expect(rows.find((r) => r.requestId === inFlight.requestId)!.periodStartedAt.getTime()).toBe(T0);
    const oldCost = sum(rows.filter((r) => r.periodStartedAt.getTime() === T0).map((r) => r.costMicros));
    const newCost = sum(rows.filter((r) => r.periodStartedAt.getTime() === T0 + HOUR).map((r) => r.costMicros));
    expect(oldCost).toBeGreaterThan(0);
    const buckets = [tenantBucket(tenant.tenantId, T0, 'usd'), tenantBucket(tenant.tenantId, T0 + HOUR, 'usd')];
    expect((await gateway.services.store.read(buckets)).map((b) => b?.spend)).toEqual([oldCost, newCost]);

    clock = T0 + HOUR + MIN;
    expect(await gateway.services.scheduler.runNow('budget_reset')).toBe('success');
    const audits = await auditEvents(gateway.db, tenant.tenantId, 'budget_reset');
    expect(audits.map((a) => [a.actor, a.details])).toEqual([
      ['job:budget_reset', { old_spend: oldCost / 1e6, new_budget: 100, reset_date: iso(T0 + HOUR) }],
    ]);
    const [notice] = await outboxEvents(gateway.db, tenant.tenantId, 'budget_reset');
    expect(notice).toMatchObject({ channel: 'notify', message: 'Your budget has been reset to $100 for the new period' });
    const litellm = await outboxEvents(gateway.db, tenant.tenantId, 'litellm_reset_spend');
    expect(litellm.map((row) => [row.channel, row.data])).toEqual([['litellm', { tenant_id: tenant.tenantId }]]);
    const row = (await getTenant(gateway.db, tenant.tenantId))!;
    expect([row.periodStartedAt.getTime(), row.budgetResetAt.getTime()]).toEqual([T0 + HOUR, T0 + 2 * HOUR]);

    // The job published no invalidation: the cached period still computes to the same one.
    const after = await chat(gateway, tenant);
    expect(after.headers.get('x-budget-spend')).toBe(formatUsd(newCost));
    expect(after.headers.get('x-budget-reset-at')).toBe(iso(T0 + 2 * HOUR));
  });

  it('skips missed periods when it runs late: one reset, to the period that holds now', async () => {
    clock = T0;
    const tenant = await hourly();
    clock = T0 + 4 * HOUR + 30 * MIN;
    expect((await chat(gateway, tenant)).status).toBe(200);
    const [served] = await waitForLedgerRows(gateway.db, tenant.tenantId, 1);

    clock = T0 + 5 * HOUR + 30 * MIN;
    expect(await gateway.services.scheduler.runNow('budget_reset')).toBe('success');
    const audits = await auditEvents(gateway.db, tenant.tenantId, 'budget_reset');
    // old_spend is the period that just closed, [4h, 5h), not the one stored before the outage.
    expect(audits.map((a) => a.details)).toEqual([
      { old_spend: served!.costMicros / 1e6, new_budget: 100, reset_date: iso(T0 + 5 * HOUR) },
    ]);
    const row = (await getTenant(gateway.db, tenant.tenantId))!;
    expect([row.periodStartedAt.getTime(), row.budgetResetAt.getTime()]).toEqual([T0 + 5 * HOUR, T0 + 6 * HOUR]);

    expect(await gateway.services.scheduler.runNow('budget_reset')).toBe('success');
    expect(await auditEvents(gateway.db, tenant.tenantId, 'budget_reset')).toHaveLength(1);
  });
});
