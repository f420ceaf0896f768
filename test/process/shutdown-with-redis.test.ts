import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { processDatabase, spawnGateway } from '../chaos/support/gateway-process.js';
import { createTestTenant, TEST_ADMIN_KEY } from '../support/gateway.js';
import { ledgerRows } from '../support/ledger.js';
import { redisUrl } from '../support/services.js';

const redis = redisUrl();

/**
 * A gateway process with Redis stopped by SIGTERM: its own close of the Redis connection is not
 * a lost store. Before, every shutdown logged "budget store connection lost" and handed the last
 * seconds of usage to a ledger writer already stopped.
 */
describe.skipIf(!redis)(`graceful shutdown with Redis${redis ? '' : ' (set TEST_REDIS_URL to run)'}`, () => {
  let sim: SimLiteLLM;
  let database: Awaited<ReturnType<typeof processDatabase>>;
  let db: Database;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    database = await processDatabase();
    db = await database.open();
  });
  afterAll(async () => {
    await sim?.close();
    await database?.close();
  });

  it('writes every request to the ledger and says nothing of a lost store', async () => {
    const tenant = await createTestTenant(db.db);
    const gateway = await spawnGateway({ ...database.env, LITELLM_BASE_URL: sim.url, ADMIN_API_KEY: TEST_ADMIN_KEY, REDIS_URL: redis!, REDIS_PREFIX: `bgtest:${randomUUID()}:` });
    const client = new OpenAI({ apiKey: tenant.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    for (let i = 0; i < 20; i++) await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `hi ${i}` }] });

    await gateway.stop('SIGTERM');

    expect(gateway.child.exitCode).toBe(0);
    const lines = gateway.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(lines.map((l) => l.msg)).toContain('shut down');
    expect(lines.filter((l) => l.level === 'warn' || l.level === 'error').map((l) => l.msg)).toEqual([]);
    expect(await ledgerRows(db.db, tenant.tenantId)).toHaveLength(20);
  });
});
