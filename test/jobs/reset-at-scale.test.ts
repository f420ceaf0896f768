import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetDueTenants } from '../../src/jobs/budget-reset.js';
import { createLogger } from '../../src/logger.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { startTestGateway, testDatabase, type TestGateway } from '../support/gateway.js';
import { databaseUrl, redisUrl } from '../support/services.js';
import { countRows, insertTenants, JOBS_BY_HAND } from '../support/resets.js';
import { dropKeys } from '../support/stores.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 22, 0, 0, 0);
const url = redisUrl();
const where = `${databaseUrl() ? 'PostgreSQL' : 'PGlite'}, ${url ? 'Redis' : 'in-process store'}`;

/** Two replicas sharing the database (and Redis when TEST_REDIS_URL is set), both able to run the job. */
describe(`the budget reset job over thousands of tenants (${where})`, () => {
  const prefix = `bgtest:${randomUUID()}:`;
  let sim: SimLiteLLM;
  let replicas: TestGateway[];
  let clock = T0;
  const batch = () => `bulk${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    const database = await testDatabase();
    const env = { LITELLM_BASE_URL: sim.url, ...JOBS_BY_HAND, ...(url ? { REDIS_URL: url, REDIS_PREFIX: prefix } : {}) };
    replicas = await Promise.all([1, 2].map(() => startTestGateway(env, { database, now: () => clock })));
  });
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.shutdown()));
    await sim.close();
    if (url) await dropKeys(url, prefix);
  });

  /** Each of the tenants reset exactly once, with its audit entry and notification. */
  const expectResetOnce = async (tenants: string, count: number) => {
    const db = replicas[0]!.db;
    const rolled = sql`period_started_at = ${new Date(T0).toISOString()}::timestamptz and budget_reset_at = ${new Date(T0 + DAY).toISOString()}::timestamptz`;
    expect(await countRows(db, 'tenants', tenants, rolled)).toBe(count);
    expect(await countRows(db, 'audit_log', tenants, sql`event = 'budget_reset'`)).toBe(count);
    expect(await countRows(db, 'notification_outbox', tenants, sql`event = 'budget_reset'`)).toBe(count);
  };

  it('rolls 10,000 due tenants once each, with 10,000 audit entries and notifications', async () => {
    const tenants = batch();
    await insertTenants(replicas[0]!.db, tenants, 10_000, new Date(T0 - DAY), new Date(T0));
    clock = T0 + 60_000;
    const started = performance.now();
    expect(await replicas[0]!.services.scheduler.runNow('budget_reset')).toBe('success');
    const ms = performance.now() - started;
    console.log(`[reset job] 10,000 due tenants reset in ${Math.round(ms)} ms (${where})`);
    await expectResetOnce(tenants, 10_000);
  });

  it('resets each tenant once when two replicas run the job at the same moment', async () => {
    const tenants = batch();
    await insertTenants(replicas[0]!.db, tenants, 3_000, new Date(T0 - DAY), new Date(T0));
    const outcomes = await Promise.all(replicas.map((r) => r.services.scheduler.runNow('budget_reset')));
    expect(outcomes).toContain('success');
    await expectResetOnce(tenants, 3_000);
  });

  it('splits the due tenants between overlapping runs that bypass the job lease, resetting none twice', async () => {
    const tenants = batch();
    await insertTenants(replicas[0]!.db, tenants, 3_000, new Date(T0 - DAY), new Date(T0));
    const deps = (r: TestGateway) => ({ db: r.db, store: r.services.store, logger: createLogger('silent'), litellmSync: false, batchSize: 250 });
    const runs = await Promise.all(replicas.map((r) => resetDueTenants(deps(r), clock)));
    expect(runs.reduce((total, run) => total + Number(run.reset ?? 0), 0)).toBe(3_000);
    await expectResetOnce(tenants, 3_000);
  });
});
