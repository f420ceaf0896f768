import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { processDatabase, spawnGateway } from '../chaos/support/gateway-process.js';
import { closedPort, createTestTenant, sample, TEST_ADMIN_KEY } from '../support/gateway.js';
import { ledgerRows } from '../support/ledger.js';
import { databaseUrl, redisUrl } from '../support/services.js';

const redis = redisUrl();
// The test reads what the gateway process wrote: a database both can open at once.
const postgres = databaseUrl();

type LogLine = { level: string; msg: string; repeated?: number };

function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** The simulated LiteLLM and a database for the gateway processes of the enclosing suite. */
function withSimAndDatabase(): { sim: SimLiteLLM; database: Awaited<ReturnType<typeof processDatabase>>; db: Database } {
  const suite = {} as { sim: SimLiteLLM; database: Awaited<ReturnType<typeof processDatabase>>; db: Database };
  beforeAll(async () => {
    suite.sim = await startSimLiteLLM();
    suite.database = await processDatabase();
    suite.db = await suite.database.open();
  });
  afterAll(async () => {
    await suite.sim?.close();
    await suite.database?.close();
  });
  return suite;
}

/** What an operator reads from a gateway process with Redis, in its JSON log lines. */
describe.skipIf(!redis || !postgres)(`the logs of a gateway with Redis${redis && postgres ? '' : ' (set TEST_REDIS_URL and TEST_DATABASE_URL to run)'}`, () => {
  const suite = withSimAndDatabase();

  // Its own close of the Redis connection is not a lost store. Before, every shutdown logged
  // "budget store connection lost" and handed the last seconds of usage to a stopped ledger writer.
  it('stopped by SIGTERM: every request in the ledger, and nothing said of a lost store', async () => {
    const tenant = await createTestTenant(suite.db.db);
    const gateway = await spawnGateway({ ...suite.database.env, LITELLM_BASE_URL: suite.sim.url, ADMIN_API_KEY: TEST_ADMIN_KEY, REDIS_URL: redis!, REDIS_PREFIX: `bgtest:${randomUUID()}:` });
    const client = new OpenAI({ apiKey: tenant.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    for (let i = 0; i < 20; i++) await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `hi ${i}` }] });

    await gateway.stop('SIGTERM');

    expect(gateway.child.exitCode).toBe(0);
    const lines = logLines(gateway.output());
    expect(lines.map((l) => l.msg)).toContain('shut down');
    expect(lines.filter((l) => l.level === 'warn' || l.level === 'error').map((l) => l.msg)).toEqual([]);
    expect(await ledgerRows(suite.db.db, tenant.tenantId)).toHaveLength(20);
  });

});

/** The same with Redis unreachable from the start (a closed port: no Redis needed to run it). */
describe.skipIf(!postgres)(`the logs and metrics of a gateway whose Redis is away${postgres ? '' : ' (set TEST_DATABASE_URL to run)'}`, () => {
  const suite = withSimAndDatabase();

  it('fail open: every request served and counted, each failure logged once and then as a count', async () => {
    const tenant = await createTestTenant(suite.db.db);
    const gateway = await spawnGateway(await awayEnv('open'));
    const client = new OpenAI({ apiKey: tenant.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    for (let i = 0; i < 30; i++) await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `hi ${i}` }] });
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();

    await gateway.stop('SIGTERM');

    expect(sample(metrics, 'budget_gateway_budget_store_unavailable_total{outcome="admitted"}')).toBe(30);
    expect(sample(metrics, 'budget_gateway_budget_store_unavailable_total{outcome="refused"}')).toBe(0);
    const lines = logLines(gateway.output());
    expectCounted(lines, 'warn', 'budget store unreachable: admitting (fail mode open)', 30);
    expectCounted(lines, 'warn', 'budget store settle failed', 30);
    // The usage itself went straight to the database.
    expect(await ledgerRows(suite.db.db, tenant.tenantId)).toHaveLength(30);
  });

  it('fail closed: every request refused with 503 and counted, logged once and then as a count', async () => {
    const tenant = await createTestTenant(suite.db.db);
    const gateway = await spawnGateway(await awayEnv('closed'));
    const client = new OpenAI({ apiKey: tenant.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    for (let i = 0; i < 10; i++) {
      await expect(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `hi ${i}` }] })).rejects.toMatchObject({
        status: 503,
        code: 'budget_store_unavailable',
      });
    }
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();

    await gateway.stop('SIGTERM');

    expect(sample(metrics, 'budget_gateway_budget_store_unavailable_total{outcome="refused"}')).toBe(10);
    expect(sample(metrics, 'budget_gateway_budget_store_unavailable_total{outcome="admitted"}')).toBe(0);
    expectCounted(logLines(gateway.output()), 'error', 'budget store unreachable: refusing (fail mode closed)', 10);
  });

  async function awayEnv(failMode: 'open' | 'closed'): Promise<Record<string, string>> {
    const away = `redis://127.0.0.1:${await closedPort()}`;
    return { ...suite.database.env, LITELLM_BASE_URL: suite.sim.url, ADMIN_API_KEY: TEST_ADMIN_KEY, REDIS_URL: away, BUDGET_FAIL_MODE: failMode };
  }
});

/** The message's first line at once, then one per 10 s window (one here, unless the machine is slow), together `times`. */
function expectCounted(lines: readonly LogLine[], level: string, msg: string, times: number): void {
  const [first, ...counts] = lines.filter((l) => l.msg === msg);
  expect(first).toMatchObject({ level });
  expect(first!.repeated).toBeUndefined();
  expect(counts.length).toBeGreaterThanOrEqual(1);
  expect(counts.length).toBeLessThanOrEqual(3);
  expect(counts.every((l) => l.level === level)).toBe(true);
  expect(1 + counts.reduce((n, l) => n + l.repeated!, 0)).toBe(times);
}
