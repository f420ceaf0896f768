import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { tenantBucket } from '../../src/budget/scopes.js';
import { getTenant } from '../../src/db/tenants.js';
import { ledgerRows } from '../support/ledger.js';
import { databaseUrl } from '../support/services.js';
import { withPrivateRedisGateway } from './support/redis-gateway.js';

/**
 * Redis that hangs for a while and comes back with its data (a stalled process, a network that
 * stops delivering): the gateway's commands time out after a second, so requests are admitted
 * without it (fail-open) and their settles fail, while the commands already sent run once Redis
 * answers again, late. The spend counters must end equal to the ledger, and nothing held.
 */
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };
const PAUSE_MS = 3_000;

describe.skipIf(!databaseUrl())(`Redis paused and resumed with its data${databaseUrl() ? '' : ' (set TEST_DATABASE_URL to run)'}`, () => {
  const suite = withPrivateRedisGateway({ BUDGET_FAIL_MODE: 'open' }, { maxBudgetMicros: 1_000_000 });

  it('charges every served request once in the counters, and leaves nothing reserved', async () => {
    const { redis, gateway, tenant } = suite;
    const client = gateway.client({ apiKey: tenant.key });
    const send = (n: number) => Promise.all(Array.from({ length: n }, () => client.chat.completions.create(chat)));
    await send(8);

    // Requests while Redis hangs: each waits out its reserve, is served, and its settle fails
    // in turn; with a stream of them, some settles are still waiting in Redis' socket.
    redis.pause();
    const resumed = new Promise<void>((resolve) =>
      setTimeout(() => {
        redis.resume();
        resolve();
      }, PAUSE_MS),
    );
    const during = send(8).then(async (first) => [...first, ...(await send(8))]);
    await resumed;
    expect(await during).toHaveLength(16);
    await send(8);

    const { periodStartedAt } = (await getTenant(gateway.db, tenant.tenantId))!;
    const bucket = `bg:${tenantBucket(tenant.tenantId, periodStartedAt.getTime(), 'usd')}`;
    const direct = new Redis(redis.url);
    try {
      await expect
        .poll(async () => (await ledgerRows(gateway.db, tenant.tenantId)).length, { timeout: 15_000, interval: 200 })
        .toBe(32);
      const ledgerSpend = (await ledgerRows(gateway.db, tenant.tenantId)).reduce((sum, row) => sum + row.costMicros, 0);
      // The replays of the settles that failed catch the counter up (one a second), each once.
      await expect.poll(async () => Number(await direct.hget(bucket, 'spend')), { timeout: 15_000, interval: 200 }).toBe(ledgerSpend);
      // Reserves that timed out and ran late hold nothing: each was released behind it.
      await expect.poll(async () => Number(await direct.hget(bucket, 'reserved')), { timeout: 5_000, interval: 200 }).toBe(0);
      // And it stays so: no replay comes late to charge twice.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect(Number(await direct.hget(bucket, 'spend'))).toBe(ledgerSpend);
    } finally {
      direct.disconnect();
    }
  }, 60_000);
});
