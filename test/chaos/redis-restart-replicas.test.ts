import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { chatCalls, startTestGateway, testDatabase, type TestGateway, type TestTenant } from '../support/gateway.js';
import { ledgerRows } from '../support/ledger.js';
import { databaseUrl } from '../support/services.js';
import { startPrivateRedis, type PrivateRedis } from './support/private-redis.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

/**
 * Redis restarted empty under two replicas, which reconnect at different times (each retries
 * every 0.2-2 s). Replica B holds requests in flight, and reconnects after replica A:
 * until B has put back what its requests hold, the buckets A rebuilt from the ledger know nothing
 * of them. A's new requests must still get only the room B's requests leave.
 */
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };
/** What one answer costs (the simulator's x-litellm-response-cost), and about its estimate. */
const REQUEST_MICROS = 11;
const LINE_MICROS = 600;
const SLOW = 40;
const FAST = 40;

describe.skipIf(!databaseUrl())(`Redis restarted empty under replicas that reconnect at different times${databaseUrl() ? '' : ' (set TEST_DATABASE_URL to run)'}`, () => {
  let redis: PrivateRedis;
  /** Replica B's way to Redis, kept closed a while after the restart. */
  let proxy: TcpProxy;
  let sim: SimLiteLLM;
  let a: TestGateway;
  let b: TestGateway;
  let tenant: TestTenant;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    const { hostname, port } = new URL(redis.url);
    proxy = await startTcpProxy({ host: hostname, port: Number(port) });
    sim = await startSimLiteLLM();
    const database = await testDatabase();
    const env = { LITELLM_BASE_URL: sim.url, BUDGET_FAIL_MODE: 'closed' };
    a = await startTestGateway({ ...env, REDIS_URL: redis.url }, { database });
    b = await startTestGateway({ ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` }, { database });
    // Block line 600 µ$ (grace 100 %): room for about 54 answers.
    tenant = await a.createTenant({ maxBudgetMicros: LINE_MICROS, graceThreshold: 100 });
  }, 30_000);
  afterAll(async () => {
    await proxy?.up();
    await Promise.all([a?.shutdown(), b?.shutdown()]);
    await sim?.close();
    await proxy?.close();
    await redis?.stop();
  });

  const ready = async (gateway: TestGateway) => (await request(`${gateway.url}/readyz`)).statusCode;

  it('keeps the line: the replica that reconnects first admits only the room the other’s requests leave', async () => {
    const calls = chatCalls(sim);
    const slowClient = b.client({ apiKey: tenant.key, timeout: 30_000 });
    const slow = Array.from({ length: SLOW }, () => slowClient.chat.completions.create(chat, { headers: { 'x-sim-latency-ms': '6000' } }));
    await expect.poll(() => chatCalls(sim) - calls, { timeout: 10_000, interval: 50 }).toBe(SLOW);

    await proxy.down();
    await redis.stop();
    await redis.start();
    await expect.poll(() => ready(a), { timeout: 10_000, interval: 50 }).toBe(200);
    // A serves new requests while B is still away from Redis; B comes back half a second later
    // (and connects at its next try, up to 2 s on).
    const fastClient = a.client({ apiKey: tenant.key, timeout: 30_000 });
    const fast = Promise.allSettled(Array.from({ length: FAST }, () => fastClient.chat.completions.create(chat)));
    await new Promise((resolve) => setTimeout(resolve, 500));
    await proxy.up();
    const outcomes = await fast;
    const refused = outcomes.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ status: 402 });
    await Promise.all(slow);

    await expect.poll(async () => (await ledgerRows(a.db, tenant.tenantId)).length, { timeout: 15_000, interval: 200 }).toBe(SLOW + FAST - refused.length);
    const spend = (await ledgerRows(a.db, tenant.tenantId)).reduce((sum, row) => sum + row.costMicros, 0);
    expect(spend).toBeLessThanOrEqual(LINE_MICROS + REQUEST_MICROS);
  }, 60_000);
});
