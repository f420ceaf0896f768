import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { getTenant } from '../../src/db/tenants.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { startTestGateway, testDatabase, type TestGateway, type TestTenant } from '../support/gateway.js';
import { ledgerRows } from '../support/ledger.js';
import { sendChat, startLoad, tally, type Sent, type Target } from './support/load.js';
import { startPrivateRedis, type PrivateRedis } from './support/private-redis.js';

/**
 * Redis taken away under load and brought back empty (a private redis-server, killed and
 * restarted without persistence). Fail-open replicas keep serving and write usage straight to
 * the database; a fail-closed one refuses with 503; once Redis is back, counters are rebuilt
 * from the ledger and budgets hold again.
 */

/** What one simulated answer costs (its x-litellm-response-cost). */
const REQUEST_MICROS = 11;
/** Budget 200 µ$ at grace 110 %: a block line of 220 µ$, room for 20 requests. */
const BUDGET_MICROS = 200;
const BLOCK_LINE_MICROS = 220;

describe('a Redis outage under load', () => {
  let redis: PrivateRedis;
  let sim: SimLiteLLM;
  let replicas: TestGateway[];
  let failClosed: TestGateway;
  let tenants: TestTenant[];

  beforeAll(async () => {
    redis = await startPrivateRedis();
    sim = await startSimLiteLLM();
    const database = await testDatabase();
    const env = { LITELLM_BASE_URL: sim.url, REDIS_URL: redis.url, BUDGET_FAIL_MODE: 'open' };
    replicas = await Promise.all([1, 2, 3].map(() => startTestGateway(env, { database })));
    failClosed = await startTestGateway({ ...env, BUDGET_FAIL_MODE: 'closed' }, { database });
    tenants = await Promise.all(Array.from({ length: 6 }, () => replicas[0]!.createTenant({ maxBudgetMicros: BUDGET_MICROS })));
  }, 60_000);
  afterAll(async () => {
    await Promise.all([...replicas, failClosed].map((r) => r?.shutdown()));
    await sim?.close();
    await redis?.stop();
  });

  const target = (n: number): Target => ({ url: replicas[n % 3]!.url, ...tenants[n % tenants.length]! });
  const ready = async (gateway: TestGateway) => (await request(`${gateway.url}/readyz`)).statusCode;

  it('serves per BUDGET_FAIL_MODE, records every request once, rebuilds counters and holds budgets once Redis is back', async () => {
    // Before: a few requests each, with Redis.
    const before = startLoad(target, 6);
    await vi.waitFor(() => expect(before.sent.filter((s) => s.status === 200).length).toBeGreaterThanOrEqual(18), { timeout: 10_000 });
    const beforeSent = await before.stop();

    // During: Redis gone. Fail-open replicas admit and record; the fail-closed one refuses.
    await redis.stop();
    const during = startLoad(target, 6);
    await vi.waitFor(() => expect(during.sent.filter((s) => s.status === 200).length).toBeGreaterThanOrEqual(30), { timeout: 15_000 });
    const closedAnswer = await sendChat({ url: failClosed.url, ...tenants[0]! });
    const duringSent = await during.stop();
    expect(closedAnswer).toMatchObject({ status: 503, code: 'budget_store_unavailable' });
    expect(tally(duringSent)).toEqual({ 200: duringSent.length });

    // Every usage event of the outage reaches the ledger without Redis.
    const servedSoFar = [...beforeSent, ...duringSent].filter((s) => s.status === 200);
    await expectLedgerToHoldExactly(servedSoFar);

    // After: Redis back, empty. Requests keep coming until every tenant is refused.
    await redis.start();
    for (const gateway of [...replicas, failClosed]) await vi.waitFor(async () => expect(await ready(gateway)).toBe(200), { timeout: 10_000, interval: 100 });
    const after = startLoad(target, 6);
    await vi.waitFor(() => expect(new Set(after.sent.filter((s) => s.status === 402).map((s) => s.tenantId)).size).toBe(tenants.length), {
      timeout: 20_000,
      interval: 100,
    });
    const afterSent = await after.stop();
    expect(Object.keys(tally(afterSent)).filter((status) => status !== '200' && status !== '402')).toEqual([]);
    expect((await sendChat({ url: failClosed.url, ...tenants[0]! })).status).toBe(402);

    const served = [...servedSoFar, ...afterSent.filter((s) => s.status === 200)];
    await expectLedgerToHoldExactly(served);

    const store = new Redis(redis.url);
    try {
      for (const tenant of tenants) {
        const ledgerSpend = sum((await ledgerRows(replicas[0]!.db, tenant.tenantId)).map((r) => r.costMicros));
        const spendBeforeRecovery = REQUEST_MICROS * servedSoFar.filter((s) => s.tenantId === tenant.tenantId).length;
        // Fail-open may have let a tenant far past its line while Redis was away; from then on, at most one request more.
        expect(ledgerSpend, tenant.tenantId).toBeLessThanOrEqual(Math.max(BLOCK_LINE_MICROS, spendBeforeRecovery) + REQUEST_MICROS);
        const { periodStartedAt } = (await getTenant(replicas[0]!.db, tenant.tenantId))!;
        const bucket = `bg:tenant:${tenant.tenantId}:${periodStartedAt.getTime()}:usd`;
        await expect.poll(async () => Number(await store.hget(bucket, 'spend')), { timeout: 10_000, message: `${bucket} vs the ledger` }).toBe(ledgerSpend);
      }
    } finally {
      store.disconnect();
    }
  }, 90_000);

  async function expectLedgerToHoldExactly(served: readonly Sent[]): Promise<void> {
    const ids = served.map((s) => s.requestId!);
    await vi.waitFor(
      async () => {
        const rows = (await Promise.all(tenants.map((t) => ledgerRows(replicas[0]!.db, t.tenantId)))).flat();
        expect(rows.length).toBe(ids.length);
        expect(new Set(rows.map((r) => r.requestId))).toEqual(new Set(ids));
      },
      { timeout: 15_000, interval: 200 },
    );
  }
});

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
