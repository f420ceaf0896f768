import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantBucket } from '../../src/budget/scopes.js';
import { getTenant } from '../../src/db/tenants.js';
import { chatCalls, type TestTenant } from '../support/gateway.js';
import { ledgerRows } from '../support/ledger.js';
import { databaseUrl } from '../support/services.js';
import { withPrivateRedisGateway } from './support/redis-gateway.js';

/**
 * Redis out of reach for a moment, with its data (a network cut): what the gateway could not give
 * back meanwhile (the rest of a lease that ran out, the reservation of a request that failed
 * upstream) must go back once Redis is reachable again, not when RESERVATION_TTL_MS (15 minutes
 * by default) expires it: until then a tenant near its line is refused for room nobody uses.
 */
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };

describe.skipIf(!databaseUrl())(`Redis out of reach, then back with its data${databaseUrl() ? '' : ' (set TEST_DATABASE_URL to run)'}`, () => {
  const suite = withPrivateRedisGateway({ BUDGET_FAIL_MODE: 'closed' }, {}, { proxied: true });
  let direct: Redis;
  beforeAll(() => {
    direct = new Redis(suite.redis.url);
  });
  afterAll(() => direct?.disconnect());

  const reserved = async (tenant: TestTenant) => {
    const { periodStartedAt } = (await getTenant(suite.gateway.db, tenant.tenantId))!;
    return Number(await direct.hget(`bg:${tenantBucket(tenant.tenantId, periodStartedAt.getTime(), 'usd')}`, 'reserved'));
  };
  const cut = async (ms: number) => {
    await suite.proxy!.down();
    await new Promise((resolve) => setTimeout(resolve, ms));
    await suite.proxy!.up();
  };

  it('gives back the rest of leases that ran out while Redis was away', async () => {
    const { gateway } = suite;
    const tenant = await gateway.createTenant({ maxBudgetMicros: 1_000_000 });
    const client = gateway.client({ apiKey: tenant.key });
    // Bursts take leases (a lease lends for a second): the last ones are still lending at the cut.
    for (let i = 0; i < 3; i++) await Promise.all(Array.from({ length: 32 }, () => client.chat.completions.create(chat)));
    expect(await reserved(tenant)).toBeGreaterThan(0);
    await expect.poll(async () => (await ledgerRows(gateway.db, tenant.tenantId)).length, { timeout: 10_000, interval: 100 }).toBe(96);

    await cut(2_000);
    await expect.poll(() => reserved(tenant), { timeout: 10_000, interval: 200 }).toBe(0);
  }, 40_000);

  it('gives back the reservation of a request that failed upstream while Redis was away', async () => {
    const { gateway, sim } = suite;
    const tenant = await gateway.createTenant({ maxBudgetMicros: 1_000_000 });
    const client = gateway.client({ apiKey: tenant.key, timeout: 30_000 });
    const calls = chatCalls(sim);
    const failing = client.chat.completions
      .create(chat, { headers: { 'x-sim-latency-ms': '1500', 'x-sim-status': '500' } })
      .then(
        () => 'served',
        (err: { status?: number }) => err.status,
      );
    await expect.poll(() => chatCalls(sim) - calls, { timeout: 10_000, interval: 20 }).toBe(1);
    expect(await reserved(tenant)).toBeGreaterThan(0);

    await cut(3_000);
    expect(await failing).toBe(500);
    await expect.poll(() => reserved(tenant), { timeout: 10_000, interval: 200 }).toBe(0);
  }, 40_000);
});
