import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTenant, upsertTenant } from '../../src/db/tenants.js';
import { usageStreams } from '../../src/ledger/usage-stream.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { CHAT_MICROS, sendChat, startTestGateway, testDatabase, type TestGateway } from '../support/gateway.js';
import { ledgerRows, usageEventOf, waitForLedgerRows } from '../support/ledger.js';
import { redisUrl } from '../support/services.js';
import { appendUsage, dropKeys } from '../support/stores.js';
import { tenantConfig } from '../support/tenants.js';

const url = redisUrl();

describe.skipIf(!url)(url ? 'three replicas sharing Redis and the database' : 'three replicas sharing Redis (set TEST_REDIS_URL to run)', () => {
  const prefix = `bgtest:${randomUUID()}:`;
  let sim: SimLiteLLM;
  let replicas: TestGateway[];
  let redis: Redis;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    const database = await testDatabase();
    // Fail closed: on a loaded machine a Redis command can outlive its 1 s timeout, and fail-open
    // would then admit without the store, which is that mode's promise, not a cap's.
    const env = { LITELLM_BASE_URL: sim.url, REDIS_URL: url!, REDIS_PREFIX: prefix, BUDGET_FAIL_MODE: 'closed' };
    replicas = await Promise.all([1, 2, 3].map(() => startTestGateway(env, { database })));
    redis = new Redis(url!);
  });
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.shutdown()));
    await sim.close();
    await redis.quit();
    await dropKeys(url!, prefix);
  });

  it('lets 200 simultaneous requests overshoot a budget with room for 5 by at most one request', async () => {
    // Block line 55 µ$ (budget 50, grace 110 %): room for exactly 5 requests of 11 µ$.
    const tenant = await replicas[0]!.createTenant({ maxBudgetMicros: 50 });
    const statuses = await Promise.all(Array.from({ length: 200 }, (_, i) => sendChat(replicas[i % 3]!, tenant).then((r) => r.statusCode)));
    const admitted = statuses.filter((s) => s === 200).length;
    // 503 budget_store_unavailable only if Redis was too slow to answer in time (fail closed).
    expect(statuses.filter((s) => ![200, 402, 503].includes(s))).toEqual([]);
    expect(admitted).toBeGreaterThanOrEqual(5);

    const rows = await waitForLedgerRows(replicas[0]!.db, tenant.tenantId, admitted);
    const spend = rows.reduce((sum, r) => sum + r.costMicros, 0);
    expect(rows).toHaveLength(admitted);
    expect(spend).toBeLessThanOrEqual(55 + CHAT_MICROS);
    // Once settled, every replica refuses.
    for (const replica of replicas) expect((await sendChat(replica, tenant)).statusCode).toBe(402);
  });

  it('counts a usage event replayed after a crash once', async () => {
    const tenant = await replicas[0]!.createTenant();
    const res = await sendChat(replicas[1]!, tenant);
    const [row] = await waitForLedgerRows(replicas[0]!.db, tenant.tenantId, 1);
    expect(row!.requestId).toBe(res.headers['x-request-id']);
    // The same event appended again, as a replica that died before acknowledging would leave it.
    const streams = usageStreams(prefix);
    await appendUsage(redis, streams, [usageEventOf(row!)]);
    await expect.poll(() => redis.xlen(streams.stream), { timeout: 10_000 }).toBe(0);
    expect(await redis.get(streams.count)).toBe('0');
    expect(await ledgerRows(replicas[0]!.db, tenant.tenantId)).toHaveLength(1);
  });

  it('rebuilds spend counters from the ledger when Redis lost them', async () => {
    const tenant = await replicas[0]!.createTenant({ maxBudgetMicros: 1_000 });
    for (let i = 0; i < 3; i++) await sendChat(replicas[i]!, tenant);
    await waitForLedgerRows(replicas[0]!.db, tenant.tenantId, 3);
    const buckets = await redis.keys(`${prefix}tenant:${tenant.tenantId}:*`);
    expect(buckets.length).toBeGreaterThan(0);
    await redis.del(...buckets); // as after a restart without persistence

    const res = await sendChat(replicas[2]!, tenant);
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-budget-spend']).toBe('0.000033');
  });

  it("applies an admin change on every replica at once (the other replicas' caches are invalidated)", async () => {
    const tenant = await replicas[0]!.createTenant({ maxBudgetMicros: 100_000_000 });
    for (const replica of replicas) expect((await sendChat(replica, tenant)).headers['x-budget-limit']).toBe('100');
    const stored = (await getTenant(replicas[0]!.db, tenant.tenantId))!;
    await upsertTenant(replicas[0]!.db, {
      ...tenantConfig({ tenantId: tenant.tenantId, maxBudgetMicros: 250_000_000 }),
      firstPeriod: { startedAt: stored.periodStartedAt, resetAt: stored.budgetResetAt },
    });
    await replicas[0]!.services.invalidation.publish({ tenantId: tenant.tenantId });
    for (const replica of replicas) {
      await expect.poll(async () => (await sendChat(replica, tenant)).headers['x-budget-limit']).toBe('250');
    }
  });
});
