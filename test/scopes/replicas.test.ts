import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { adminApi } from '../support/admin.js';
import { CHAT_MICROS, sendChat, startTestGateway, testDatabase, type TestGateway } from '../support/gateway.js';
import { waitForLedgerRows } from '../support/ledger.js';
import { redisUrl } from '../support/services.js';
import { dropKeys } from '../support/stores.js';

const url = redisUrl();

describe.skipIf(!url)(url ? 'a global cap raced by three replicas' : 'a global cap raced by three replicas (set TEST_REDIS_URL to run)', () => {
  const prefix = `bgtest:${randomUUID()}:`;
  let sim: SimLiteLLM;
  let replicas: TestGateway[];

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    const database = await testDatabase();
    // Fail closed: on a loaded machine a Redis command can outlive its 1 s timeout, and fail-open
    // would then admit without the store, which is that mode's promise, not a cap's.
    const env = { LITELLM_BASE_URL: sim.url, REDIS_URL: url!, REDIS_PREFIX: prefix, BUDGET_FAIL_MODE: 'closed' };
    replicas = await Promise.all([1, 2, 3].map(() => startTestGateway(env, { database })));
  });
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.shutdown()));
    await sim.close();
    await dropKeys(url!, prefix);
  });

  it('lets 300 simultaneous requests of 10 tenants overshoot a cap with room for 8 by at most one request', async () => {
    // Block line 88 µ$ (cap 80, grace 110 %): room for 8 answers of 11 µ$ across all tenants.
    const admin = adminApi(replicas[0]!.url);
    expect((await admin.put('/budgets/global', { max_budget: 0.00008 })).status).toBe(201);
    const tenants = await Promise.all(Array.from({ length: 10 }, () => replicas[0]!.createTenant({ maxBudgetMicros: 1_000_000 })));

    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => sendChat(replicas[i % 3]!, tenants[i % 10]!)));
    // 503 budget_store_unavailable only if Redis was too slow to answer in time (fail closed).
    expect(answers.filter((a) => ![200, 402, 503].includes(a.statusCode))).toEqual([]);
    expect(answers.filter((a) => a.statusCode === 402).every((a) => a.headers['x-budget-scope'] === 'global')).toBe(true);

    const admittedBy = tenants.map((_, t) => answers.filter((a, i) => i % 10 === t && a.statusCode === 200).length);
    const rows = (await Promise.all(tenants.map((t, i) => waitForLedgerRows(replicas[0]!.db, t.tenantId, admittedBy[i]!)))).flat();
    const spent = rows.reduce((sum, r) => sum + r.costMicros, 0);
    expect(rows.length).toBeGreaterThanOrEqual(8);
    expect(spent).toBeLessThanOrEqual(88 + CHAT_MICROS);
    for (const replica of replicas) expect((await sendChat(replica, tenants[0]!)).statusCode).toBe(402);
    await admin.delete('/budgets/global');
  });
});
