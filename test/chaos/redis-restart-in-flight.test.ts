import { Redis } from 'ioredis';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { tenantBucket } from '../../src/budget/scopes.js';
import { getTenant } from '../../src/db/tenants.js';
import { chatCalls } from '../support/gateway.js';
import { ledgerRows } from '../support/ledger.js';
import { databaseUrl } from '../support/services.js';
import { withPrivateRedisGateway } from './support/redis-gateway.js';

/**
 * Redis restarted empty while requests are in flight: the buckets rebuilt from the ledger know
 * nothing of them, and would lend their room to new requests while they still finish. Each
 * replica puts back what its requests in flight hold, so the line still holds within a request.
 */
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };
/** What one answer costs (the simulator's x-litellm-response-cost), and about its estimate. */
const REQUEST_MICROS = 11;
const LINE_MICROS = 600;
const SLOW = 40;

describe.skipIf(!databaseUrl())(`Redis restarted empty with requests in flight${databaseUrl() ? '' : ' (set TEST_DATABASE_URL to run)'}`, () => {
  // Block line 600 µ$ (grace 100 %): room for about 54 answers.
  const suite = withPrivateRedisGateway({ BUDGET_FAIL_MODE: 'closed' }, { maxBudgetMicros: LINE_MICROS, graceThreshold: 100 });

  it('puts back what requests in flight hold, so new requests get only the room that is left', async () => {
    const { redis, sim, gateway, tenant } = suite;
    const client = gateway.client({ apiKey: tenant.key, timeout: 30_000 });
    const calls = chatCalls(sim);
    const slow = Array.from({ length: SLOW }, () => client.chat.completions.create(chat, { headers: { 'x-sim-latency-ms': '5000' } }));
    await expect.poll(() => chatCalls(sim) - calls, { timeout: 10_000, interval: 50 }).toBe(SLOW);

    await redis.stop();
    await redis.start();
    await expect.poll(async () => (await request(`${gateway.url}/readyz`)).statusCode, { timeout: 10_000, interval: 100 }).toBe(200);
    const { periodStartedAt } = (await getTenant(gateway.db, tenant.tenantId))!;
    const bucket = `bg:${tenantBucket(tenant.tenantId, periodStartedAt.getTime(), 'usd')}`;
    const direct = new Redis(redis.url);
    try {
      // The requests in flight hold their estimates again in the rebuilt bucket.
      await expect.poll(async () => Number(await direct.hget(bucket, 'reserved')), { timeout: 5_000, interval: 50 }).toBeGreaterThanOrEqual(SLOW * REQUEST_MICROS);
    } finally {
      direct.disconnect();
    }

    // New requests, while the slow ones still run: only the room they leave.
    const fast = await Promise.allSettled(Array.from({ length: 40 }, () => client.chat.completions.create(chat)));
    const refused = fast.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ status: 402 });
    await Promise.all(slow);

    await expect.poll(async () => ledgerRows(gateway.db, tenant.tenantId), { timeout: 10_000, interval: 200 }).toHaveLength(SLOW + fast.length - refused.length);
    const spend = (await ledgerRows(gateway.db, tenant.tenantId)).reduce((sum, row) => sum + row.costMicros, 0);
    expect(spend).toBeLessThanOrEqual(LINE_MICROS + REQUEST_MICROS);
  }, 60_000);
});
