import { afterAll, beforeAll } from 'vitest';
import type { TenantConfig } from '../../../src/db/tenants.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../../src/sim/litellm.js';
import { startTestGateway, testDatabase, type TestGateway, type TestTenant } from '../../support/gateway.js';
import { startPrivateRedis, type PrivateRedis } from './private-redis.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export interface RedisGatewaySuite {
  readonly redis: PrivateRedis;
  readonly sim: SimLiteLLM;
  readonly gateway: TestGateway;
  readonly tenant: TestTenant;
  /** The gateway's way to Redis when asked for (`proxied`): cut it to take Redis away, data and all kept. */
  readonly proxy: TcpProxy | undefined;
}

/**
 * For the enclosing suite: a private redis-server (which the test may pause, kill or restart
 * empty), the simulated LiteLLM, one gateway on them and the suite's PostgreSQL database, and a
 * tenant configured as given. `proxied`: the gateway reaches Redis through a TCP proxy the test
 * can cut.
 */
export function withPrivateRedisGateway(env: Record<string, string>, tenant: Partial<TenantConfig>, options: { proxied?: boolean } = {}): RedisGatewaySuite {
  const suite = {} as { -readonly [K in keyof RedisGatewaySuite]: RedisGatewaySuite[K] };
  beforeAll(async () => {
    suite.redis = await startPrivateRedis();
    const { hostname, port } = new URL(suite.redis.url);
    suite.proxy = options.proxied ? await startTcpProxy({ host: hostname, port: Number(port) }) : undefined;
    suite.sim = await startSimLiteLLM();
    const redisUrl = suite.proxy ? `redis://127.0.0.1:${suite.proxy.port}` : suite.redis.url;
    suite.gateway = await startTestGateway({ LITELLM_BASE_URL: suite.sim.url, REDIS_URL: redisUrl, ...env }, { database: await testDatabase() });
    suite.tenant = await suite.gateway.createTenant(tenant);
  }, 30_000);
  afterAll(async () => {
    suite.redis?.resume();
    await suite.proxy?.up();
    await suite.gateway?.shutdown();
    await suite.sim?.close();
    await suite.proxy?.close();
    await suite.redis?.stop();
  });
  return suite;
}
