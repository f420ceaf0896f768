import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openDatabase, type Database } from '../../src/db/client.js';
import { getTenant } from '../../src/db/tenants.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { adminApi, contractError } from '../support/admin.js';
import { openTestDatabase, type TestDatabase } from '../support/databases.js';
import { createTestTenant, sample, startTestGateway, type TestGateway, type TestTenant } from '../support/gateway.js';
import { ledgerRows } from '../support/ledger.js';
import { databaseUrl } from '../support/services.js';
import { startLoad, tally, type Target } from './support/load.js';
import { startPrivateRedis, type PrivateRedis } from './support/private-redis.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

/**
 * PostgreSQL taken away under load: the gateway reaches the machine's PostgreSQL through a TCP
 * proxy of the test's own, which cuts every connection and refuses new ones, then lets them
 * through again. Proxied requests keep being served (tenants and keys are cached) and their usage
 * waits in the store (the Redis stream, or the in-process ledger queue) until it can be written;
 * admin writes answer 503 `database_unavailable` meanwhile and succeed after; /readyz names the
 * database while it is away. Nothing is lost: the ledger ends with every served request once.
 */

const url = databaseUrl();

for (const store of ['redis', 'in-process'] as const) {
  describe.skipIf(!url)(`a PostgreSQL outage under load [${store} store]${url ? '' : ' (set TEST_DATABASE_URL to run)'}`, () => {
    let test: TestDatabase;
    let proxy: TcpProxy;
    let proxied: Database;
    let redis: PrivateRedis | undefined;
    let sim: SimLiteLLM;
    let gateway: TestGateway;
    let tenant: TestTenant;

    beforeAll(async () => {
      test = await openTestDatabase('postgres');
      const direct = new URL(url!);
      proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
      direct.host = `127.0.0.1:${proxy.port}`;
      proxied = await openDatabase({ databaseUrl: direct.toString(), dataDir: '', searchPath: test.options.searchPath });
      redis = store === 'redis' ? await startPrivateRedis() : undefined;
      sim = await startSimLiteLLM();
      gateway = await startTestGateway({ LITELLM_BASE_URL: sim.url, ...(redis ? { REDIS_URL: redis.url } : {}) }, { database: proxied });
      tenant = await createTestTenant(test.database.db, { maxBudgetMicros: 1_000_000_000 });
    }, 60_000);
    afterAll(async () => {
      await proxy?.up();
      await gateway?.shutdown();
      await proxied?.close();
      await proxy?.close();
      await sim?.close();
      await redis?.stop();
      await test?.close();
    });

    const target = (): Target => ({ url: gateway.url, ...tenant });
    const admin = () => adminApi(gateway.url);
    const readiness = async () => {
      const res = await request(`${gateway.url}/readyz`);
      return { status: res.statusCode, body: (await res.body.json()) as { not_ready?: { name: string }[] } };
    };
    const served = () => load.sent.filter((s) => s.status === 200).length;
    let load: ReturnType<typeof startLoad>;

    it('keeps serving, answers admin writes 503 database_unavailable, and flushes every usage event once it is back', async () => {
      load = startLoad(target, 4);
      await vi.waitFor(() => expect(served()).toBeGreaterThanOrEqual(20), { timeout: 10_000 });

      // Down: open connections cut, new ones refused.
      await proxy.down();
      const servedAtOutage = served();
      await vi.waitFor(async () => expect(await readiness()).toMatchObject({ status: 503, body: { not_ready: [{ name: 'database' }] } }), {
        timeout: 10_000,
        interval: 100,
      });
      const created = await admin().put(`/tenants/${tenant.tenantId}-late`, { max_budget: 5 });
      expect(created.status).toBe(503);
      expect(created.body).toEqual(contractError('database_unavailable', 'service_unavailable'));
      expect(created.headers['retry-after']).toBeDefined();
      const override = await admin().post(`/tenants/${tenant.tenantId}/budget-override`, { override_amount: 1, duration: '1h', reason: 'chaos: during the outage' });
      expect(override.status).toBe(503);
      expect(override.body).toEqual(contractError('database_unavailable', 'service_unavailable'));

      // Requests keep being served; their usage waits for the database.
      await vi.waitFor(() => expect(served()).toBeGreaterThanOrEqual(servedAtOutage + 40), { timeout: 10_000 });
      await expect.poll(async () => sample(await gateway.metrics(), 'budget_gateway_ledger_pending'), { timeout: 5_000 }).toBeGreaterThan(0);
      expect(await readiness()).toMatchObject({ status: 503 });

      // Up: ready again, admin writes succeed, the backlog is written.
      await proxy.up();
      await vi.waitFor(async () => expect((await readiness()).status).toBe(200), { timeout: 15_000, interval: 100 });
      expect((await admin().put(`/tenants/${tenant.tenantId}-late`, { max_budget: 5 })).status).toBe(201);
      expect((await admin().post(`/tenants/${tenant.tenantId}/budget-override`, { override_amount: 1, duration: '1h', reason: 'chaos: after the outage' })).status).toBe(201);
      await vi.waitFor(() => expect(served()).toBeGreaterThanOrEqual(servedAtOutage + 60), { timeout: 10_000 });
      const sent = await load.stop();
      expect(tally(sent)).toEqual({ 200: sent.length });

      const ids = new Set(sent.map((s) => s.requestId!));
      const rows = await vi.waitFor(
        async () => {
          const all = await ledgerRows(test.database.db, tenant.tenantId);
          expect(all.length).toBe(sent.length);
          return all;
        },
        { timeout: 20_000, interval: 200 },
      );
      expect(new Set(rows.map((r) => r.requestId))).toEqual(ids);
      await expect.poll(async () => sample(await gateway.metrics(), 'budget_gateway_ledger_pending'), { timeout: 5_000 }).toBe(0);

      // The tenant's spend (counters) equals the ledger after the outage.
      const ledgerSpend = rows.reduce((total, r) => total + r.costMicros, 0);
      const view = await admin().get(`/tenants/${tenant.tenantId}`);
      expect(Math.round(view.body.spend * 1e6)).toBe(ledgerSpend);
      if (redis) {
        const client = new Redis(redis.url);
        try {
          const { periodStartedAt } = (await getTenant(test.database.db, tenant.tenantId))!;
          expect(Number(await client.hget(`bg:tenant:${tenant.tenantId}:${periodStartedAt.getTime()}:usd`, 'spend'))).toBe(ledgerSpend);
        } finally {
          client.disconnect();
        }
      }
    }, 60_000);
  });
}
