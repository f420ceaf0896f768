import { afterAll, beforeAll } from 'vitest';
import type { TenantConfig } from '../../../src/db/tenants.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../../src/sim/litellm.js';
import { startTestGateway, testDatabase, type TestGateway, type TestTenant } from '../../support/gateway.js';
import { startPrivateRedis, type PrivateRedis } from './private-redis.js';

export interface RedisGatewaySuite {
  readonly redis: PrivateRedis;
  readonly sim: SimLiteLLM;
  readonly gateway: TestGateway;
  readonly tenant: TestTenant;
}

/**
 * For the enclosing suite: a private redis-server (which the test may pause, kill or restart
 * empty), the simulated LiteLLM, one gateway on them and the suite's PostgreSQL database, and a
 * tenant configured as given.
 */
export function withPrivateRedisGateway(env: Record<string, string>, tenant: Partial<TenantConfig>): RedisGatewaySuite {
  const suite = {} as { -readonly [K in keyof RedisGatewaySuite]: RedisGatewaySuite[K] };
  beforeAll(async () => {
    suite.redis = await startPrivateRedis();
    suite.sim = await startSimLiteLLM();
    suite.gateway = await startTestGateway({ LITELLM_BASE_URL: suite.sim.url, REDIS_URL: suite.redis.url, ...env }, { database: await testDatabase() });
    suite.tenant = await suite.gateway.createTenant(tenant);
  }, 30_000);
  afterAll(async () => {
    suite.redis?.resume();
    await suite.gateway?.shutdown();
    await suite.sim?.close();
    await suite.redis?.stop();
  });
  return suite;
}
