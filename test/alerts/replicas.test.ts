import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/client.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { openTestDatabase, type TestDatabase } from '../support/databases.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { databaseUrl } from '../support/services.js';
import { litellmKeyBudgetAlert } from './payloads.js';
import { alertAudits, storedAlerts } from './records.js';

const SECRET = `whsec-${randomBytes(16).toString('hex')}`;
const url = databaseUrl();
const title = 'two gateways, each with its own PostgreSQL pool, receiving the same LiteLLM alert at once';

describe.skipIf(!url)(url ? title : `${title} (set TEST_DATABASE_URL to run)`, () => {
  let sim: SimLiteLLM;
  let shared: TestDatabase;
  let secondPool: Database;
  let replicas: TestGateway[];

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    shared = await openTestDatabase('postgres');
    secondPool = await openDatabase(shared.options);
    const env = { LITELLM_BASE_URL: sim.url, LITELLM_WEBHOOK_SECRET: SECRET };
    replicas = await Promise.all([shared.database, secondPool].map((database) => startTestGateway(env, { database })));
  });
  afterAll(async () => {
    await Promise.all((replicas ?? []).map((r) => r.shutdown()));
    await secondPool?.close();
    await shared?.close();
    await sim?.close();
  });

  it('stores it once and audits it once, and every copy is answered 200', async () => {
    const token = randomBytes(32).toString('hex');
    const body = JSON.stringify(litellmKeyBudgetAlert({ token }));
    const statuses = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await request(`${replicas[i % 2]!.url}/api/v1/budget-alerts?token=${SECRET}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        await res.body.dump();
        return res.statusCode;
      }),
    );
    expect(statuses).toEqual(Array.from({ length: 20 }, () => 200));
    expect(await storedAlerts(shared.database.db, `key:${token}`)).toHaveLength(1);
    expect(await alertAudits(shared.database.db, `key:${token}`)).toHaveLength(1);
  });
});
