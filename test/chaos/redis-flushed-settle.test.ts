import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantBucket } from '../../src/budget/scopes.js';
import { getTenant } from '../../src/db/tenants.js';
import { CHAT_MICROS, chatCalls, type TestTenant } from '../support/gateway.js';
import { ledgerRows, waitForLedgerRows } from '../support/ledger.js';
import { databaseUrl } from '../support/services.js';
import { withPrivateRedisGateway } from './support/redis-gateway.js';

/**
 * Redis emptied under the replicas (an operator's FLUSHALL, keys evicted, or a restart in the
 * moment before a replica has reconnected): requests in flight settle into buckets Redis no longer
 * knows, so their charge goes to no counter and their usage only to the stream. The bucket is
 * rebuilt from the ledger, which holds that usage only if it got there first. Either way, once
 * the usage is in the ledger, the counter holds it once.
 */
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };
const WARM = 3;
const SLOW = 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!databaseUrl())(`A settle that reaches an emptied Redis before its bucket is rebuilt${databaseUrl() ? '' : ' (set TEST_DATABASE_URL to run)'}`, () => {
  const suite = withPrivateRedisGateway({}, { maxBudgetMicros: 10_000_000 });
  let direct: Redis;
  beforeAll(() => {
    direct = new Redis(suite.redis.url);
  });
  afterAll(() => direct?.disconnect());

  /** The tenant's USD counter in Redis, as `field` reads. */
  async function counter(tenant: TestTenant, field: 'spend' | 'reserved'): Promise<number> {
    const { periodStartedAt } = (await getTenant(suite.gateway.db, tenant.tenantId))!;
    return Number(await direct.hget(`bg:${tenantBucket(tenant.tenantId, periodStartedAt.getTime(), 'usd')}`, field));
  }

  /**
   * Some answers first, then SLOW requests in flight while Redis is emptied, then (past the lease
   * lifetime, 1 s, so it reserves in Redis) one request that rebuilds the bucket from the ledger.
   * `steps.beforeFlush` runs while the slow requests are in flight, `steps.beforeRebuild` between
   * their settles and that rebuild.
   */
  async function settleIntoEmptiedRedis(tenant: TestTenant, steps: { beforeFlush?: () => Promise<void>; beforeRebuild?: () => Promise<void> }): Promise<void> {
    const { sim, gateway } = suite;
    const client = gateway.client({ apiKey: tenant.key, timeout: 30_000 });
    for (let i = 0; i < WARM; i++) await client.chat.completions.create(chat);
    await waitForLedgerRows(gateway.db, tenant.tenantId, WARM);
    const calls = chatCalls(sim);
    const slow = Array.from({ length: SLOW }, () => client.chat.completions.create(chat, { headers: { 'x-sim-latency-ms': '1500' } }));
    await expect.poll(() => chatCalls(sim) - calls, { timeout: 10_000, interval: 20 }).toBe(SLOW);
    await steps.beforeFlush?.();
    await direct.flushall();
    await Promise.all(slow);
    await steps.beforeRebuild?.();
    await sleep(1_200);
    await client.chat.completions.create(chat);
  }

  async function ledgerSpend(tenant: TestTenant): Promise<number> {
    const rows = await waitForLedgerRows(suite.gateway.db, tenant.tenantId, WARM + SLOW + 1);
    expect(rows).toHaveLength(WARM + SLOW + 1);
    return rows.reduce((sum, row) => sum + row.costMicros, 0);
  }

  it('is charged to the rebuilt counter once its usage reaches the ledger, if the rebuild read the ledger before it', async () => {
    const tenant = await suite.gateway.createTenant({ maxBudgetMicros: 10_000_000 });
    // Ledger writes hang (SHARE mode lets the rebuild's read through, not an insert).
    let unlock!: () => void;
    const unlocked = new Promise<void>((resolve) => (unlock = resolve));
    let lock: Promise<void> | undefined;
    const takeLock = () =>
      new Promise<void>((held) => {
        lock = suite.gateway.db.transaction(async (tx) => {
          await tx.execute(sql`lock table usage_ledger in share mode`);
          held();
          await unlocked;
        });
      });
    try {
      await settleIntoEmptiedRedis(tenant, { beforeFlush: takeLock });
      // Rebuilt without the slow requests, which the ledger does not hold yet (the last request's
      // own settle lands just after its answer).
      await expect.poll(() => counter(tenant, 'spend'), { timeout: 5_000, interval: 50 }).toBe((WARM + 1) * CHAT_MICROS);
      expect(await ledgerRows(suite.gateway.db, tenant.tenantId)).toHaveLength(WARM);
    } finally {
      unlock();
      await lock;
    }
    const ledger = await ledgerSpend(tenant);
    expect(ledger).toBe((WARM + SLOW + 1) * CHAT_MICROS);
    await expect.poll(() => counter(tenant, 'spend'), { timeout: 10_000, interval: 100 }).toBe(ledger);
    // Charged once: a while later it has not moved.
    await sleep(2_500);
    expect(await counter(tenant, 'spend')).toBe(ledger);
    expect(await counter(tenant, 'reserved')).toBe(0);
  }, 60_000);

  it('is not charged again where the rebuild read the ledger after it', async () => {
    const tenant = await suite.gateway.createTenant({ maxBudgetMicros: 10_000_000 });
    await settleIntoEmptiedRedis(tenant, { beforeRebuild: () => waitForLedgerRows(suite.gateway.db, tenant.tenantId, WARM + SLOW).then(() => {}) });
    const ledger = await ledgerSpend(tenant);
    await expect.poll(() => counter(tenant, 'spend'), { timeout: 5_000, interval: 100 }).toBe(ledger);
    await sleep(2_500);
    expect(await counter(tenant, 'spend')).toBe(ledger);
    expect(await counter(tenant, 'reserved')).toBe(0);
  }, 60_000);
});
