import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantBucket } from '../../src/budget/scopes.js';
import { getTenant } from '../../src/db/tenants.js';
import { resetBudgetNow, type ManualResetDeps } from '../../src/jobs/manual-reset.js';
import { createLogger } from '../../src/logger.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { adminApi } from '../support/admin.js';
import { startTestGateway, testDatabase, type TestGateway } from '../support/gateway.js';
import { auditEvents, outboxEvents, waitForLedgerRows } from '../support/ledger.js';
import { chat, JOBS_BY_HAND, streamInFlight } from '../support/resets.js';
import { redisUrl } from '../support/services.js';
import { dropKeys, forEachStore } from '../support/stores.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const iso = (ms: number): string => new Date(ms).toISOString();
const logger = createLogger('silent');

/** What the admin route hands the manual reset: the gateway's own services. */
const resetDeps = (gateway: TestGateway, litellmSync: boolean): ManualResetDeps => ({
  db: gateway.db,
  store: gateway.services.store,
  invalidation: gateway.services.invalidation,
  logger,
  litellmSync,
});

forEachStore('a manual budget reset', (store) => {
  let sim: SimLiteLLM;
  let gateway: TestGateway;
  let clock = T0;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    gateway = await startTestGateway({ LITELLM_BASE_URL: sim.url, ...JOBS_BY_HAND, ...store.env() }, { now: () => clock });
  });
  afterAll(async () => {
    await gateway.shutdown();
    await sim.close();
  });

  it('starts a new period at once: spend 0 right after, and a request in flight settles into the old period', async () => {
    clock = T0;
    const tenant = await gateway.createTenant({ firstPeriod: { startedAt: new Date(T0), resetAt: new Date(T0 + 30 * DAY) } });
    clock = T0 + HOUR;
    expect((await chat(gateway, tenant)).status).toBe(200);
    const [first] = await waitForLedgerRows(gateway.db, tenant.tenantId, 1);
    const inFlight = await streamInFlight(gateway, tenant);

    clock = T0 + 2 * HOUR;
    expect(await resetBudgetNow(resetDeps(gateway, true), tenant.tenantId, 'admin:0123abcd', clock)).toBe(true);
    const fresh = await chat(gateway, tenant);
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('x-budget-spend')).toBe('0');
    expect(fresh.headers.get('x-budget-reset-at')).toBe(iso(T0 + 30 * DAY));
    expect(sim.inFlight()).toBe(1);
    await inFlight.finish();

    const rows = await waitForLedgerRows(gateway.db, tenant.tenantId, 3);
    const streamed = rows.find((r) => r.requestId === inFlight.requestId)!;
    const after = rows.find((r) => r.requestId !== inFlight.requestId && r.requestId !== first!.requestId)!;
    expect([streamed.periodStartedAt.getTime(), after.periodStartedAt.getTime()]).toEqual([T0, T0 + 2 * HOUR]);
    const buckets = [tenantBucket(tenant.tenantId, T0, 'usd'), tenantBucket(tenant.tenantId, T0 + 2 * HOUR, 'usd')];
    expect((await gateway.services.store.read(buckets)).map((b) => b?.spend)).toEqual([
      first!.costMicros + streamed.costMicros,
      after.costMicros,
    ]);

    const audits = await auditEvents(gateway.db, tenant.tenantId, 'budget_reset');
    // Spend settled when the reset happened; the request then in flight was still a reservation.
    expect(audits.map((a) => [a.actor, a.details])).toEqual([
      ['admin:0123abcd', { old_spend: first!.costMicros / 1e6, new_budget: 100, reset_date: iso(T0 + 2 * HOUR) }],
    ]);
    expect(await outboxEvents(gateway.db, tenant.tenantId, 'budget_reset')).toHaveLength(1);
    expect(await outboxEvents(gateway.db, tenant.tenantId, 'litellm_reset_spend')).toHaveLength(1);
    const row = (await getTenant(gateway.db, tenant.tenantId))!;
    expect([row.periodStartedAt.getTime(), row.budgetResetAt.getTime()]).toEqual([T0 + 2 * HOUR, T0 + 30 * DAY]);
  });

  it('is what POST /admin/tenants/:id/budget-reset does: the answer shows the new period with spend 0', async () => {
    clock = T0;
    const tenant = await gateway.createTenant({ firstPeriod: { startedAt: new Date(T0), resetAt: new Date(T0 + 30 * DAY) } });
    clock = T0 + HOUR;
    await chat(gateway, tenant);
    await waitForLedgerRows(gateway.db, tenant.tenantId, 1);
    clock = T0 + 3 * HOUR;
    const answer = await adminApi(gateway.url).post(`/tenants/${tenant.tenantId}/budget-reset`);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ period_started_at: iso(T0 + 3 * HOUR), budget_reset_at: iso(T0 + 30 * DAY), spend: 0 });
    const [audit] = await auditEvents(gateway.db, tenant.tenantId, 'budget_reset');
    expect(audit!.actor).toMatch(/^admin:/);
    expect((await adminApi(gateway.url).post('/tenants/no-such-tenant/budget-reset')).status).toBe(404);
  });

  it('queues no LiteLLM sync row without LITELLM_MASTER_KEY', async () => {
    const tenant = await gateway.createTenant();
    expect(await resetBudgetNow(resetDeps(gateway, false), tenant.tenantId, 'admin:0123abcd', clock)).toBe(true);
    expect(await outboxEvents(gateway.db, tenant.tenantId, 'budget_reset')).toHaveLength(1);
    expect(await outboxEvents(gateway.db, tenant.tenantId, 'litellm_reset_spend')).toEqual([]);
  });
});

const url = redisUrl();
describe.skipIf(!url)(url ? 'a manual reset on a fleet' : 'a manual reset on a fleet (set TEST_REDIS_URL to run)', () => {
  const prefix = `bgtest:${randomUUID()}:`;
  let sim: SimLiteLLM;
  let replicas: TestGateway[];
  let clock = T0;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    const database = await testDatabase();
    const env = { LITELLM_BASE_URL: sim.url, REDIS_URL: url!, REDIS_PREFIX: prefix, ...JOBS_BY_HAND };
    replicas = await Promise.all([1, 2].map(() => startTestGateway(env, { database, now: () => clock })));
  });
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.shutdown()));
    await sim.close();
    await dropKeys(url!, prefix);
  });

  it('drops the old period from every replica: the other replica also sees spend 0 at once', async () => {
    const [a, b] = replicas as [TestGateway, TestGateway];
    const tenant = await a.createTenant({ firstPeriod: { startedAt: new Date(T0), resetAt: new Date(T0 + 30 * DAY) } });
    clock = T0 + HOUR;
    await chat(b, tenant);
    await waitForLedgerRows(a.db, tenant.tenantId, 1);
    expect((await chat(b, tenant)).headers.get('x-budget-spend')).not.toBe('0');

    clock = T0 + 2 * HOUR;
    await resetBudgetNow(resetDeps(a, false), tenant.tenantId, 'admin:0123abcd', clock);
    await expect.poll(async () => (await chat(b, tenant)).headers.get('x-budget-spend')).toBe('0');
  });
});
