import { request } from 'undici';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { adminApi } from '../support/admin.js';
import { rowsOf } from '../support/databases.js';
import type { Db } from '../../src/db/client.js';
import { TEST_ADMIN_KEY, startTestGateway, type TestGateway } from '../support/gateway.js';
import { processDatabase, spawnGateway } from './support/gateway-process.js';

const ADMIN_ROUTES = [
  'GET /tenants',
  'PUT /tenants/probe',
  'GET /tenants/probe',
  'DELETE /tenants/probe',
  'POST /tenants/probe/keys',
  'GET /tenants/probe/keys',
  'DELETE /tenants/probe/keys/k1',
  'POST /tenants/probe/budget-override',
  'DELETE /tenants/probe/budget-override',
  'POST /tenants/probe/budget-reset',
  'GET /tenants/probe/usage',
  'GET /budgets/global',
  'PUT /budgets/global',
  'DELETE /budgets/global',
  'GET /audit',
  'GET /notifications',
  'POST /notifications/1/retry',
];

/** Credentials an attacker would try: none, a guess, and keys one character from the real one. */
const PROBES: Record<string, Record<string, string>> = {
  'no key': {},
  'a wrong key': { authorization: 'Bearer not-the-admin-key-at-all' },
  'the key minus its last character': { authorization: `Bearer ${TEST_ADMIN_KEY.slice(0, -1)}` },
  'the key plus one character': { authorization: `Bearer ${TEST_ADMIN_KEY}0` },
  'the key with its last character changed': { authorization: `Bearer ${TEST_ADMIN_KEY.slice(0, -1)}X` },
  'the key in another case': { authorization: `Bearer ${TEST_ADMIN_KEY.toUpperCase()}` },
  'the key as Basic credentials': { authorization: `Basic ${Buffer.from(`admin:${TEST_ADMIN_KEY}`).toString('base64')}` },
  'the key in an api-key header': { 'api-key': TEST_ADMIN_KEY },
  'the key twice in one header': { authorization: `Bearer ${TEST_ADMIN_KEY}, Bearer ${TEST_ADMIN_KEY}` },
};

describe('the admin API refuses every credential but the admin key', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway({});
  });
  afterAll(() => gateway.shutdown());

  it('answers every route and probe with the same 401, so a near miss tells nothing a far miss does not', async () => {
    const answers = new Set<string>();
    for (const route of ADMIN_ROUTES) {
      const [method, path] = route.split(' ') as [string, string];
      for (const [probe, headers] of Object.entries(PROBES)) {
        const res = await request(`${gateway.url}/admin${path}?key=${TEST_ADMIN_KEY}`, {
          method: method as 'GET',
          headers: { 'content-type': 'application/json', ...headers },
          body: method === 'GET' || method === 'DELETE' ? undefined : '{"max_budget":1}',
        });
        const body = await res.body.text();
        expect(res.statusCode, `${route} with ${probe}`).toBe(401);
        answers.add(`${res.headers['www-authenticate']} ${body}`);
      }
    }
    expect(answers.size).toBe(1);
    // Nothing the probes sent was acted on.
    expect((await adminApi(gateway.url).get('/tenants/probe')).status).toBe(404);
  });
});

describe('keys stay secret', () => {
  let sim: SimLiteLLM;
  let database: Awaited<ReturnType<typeof processDatabase>>;
  beforeAll(async () => {
    sim = await startSimLiteLLM();
    database = await processDatabase();
  });
  afterAll(async () => {
    await sim.close();
    await database.close();
  });

  it('no API key, admin key or upstream credential appears in the logs, the database, or (the admin key) upstream', async () => {
    const adminKey = 'bg-admin-secret-for-the-leak-check-0123';
    const masterKey = 'sk-sim-master';
    const env: Record<string, string> = {
      LITELLM_BASE_URL: sim.url,
      ADMIN_API_KEY: adminKey,
      LITELLM_MASTER_KEY: masterKey,
      LITELLM_API_KEY: 'sk-gateway-upstream-credential-77',
      LOG_LEVEL: 'trace',
      ...database.env,
    };
    const gateway = await spawnGateway(env);
    const admin = adminApi(gateway.url, adminKey);
    const registered = `sk-litellm-registered-${Date.now()}`;
    const unknown = 'sk-unknown-key-that-nobody-issued-1234';
    let minted: string;
    try {
      expect((await admin.put('/tenants/leak-check', { max_budget: 0.00002 })).status).toBe(201);
      minted = (await admin.post('/tenants/leak-check/keys')).body.key;
      expect((await admin.post('/tenants/leak-check/keys', { key: registered })).status).toBe(201);

      const chat = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}';
      const statuses: number[] = [];
      for (const [key, extra] of [
        [minted, {}],
        [registered, { 'x-sim-status': '500' }],
        [registered, {}],
        [registered, {}], // over the $0.00002 budget by now: 402
        [unknown, {}],
        [adminKey, {}],
        [masterKey, {}],
      ] as const) {
        const res = await request(`${gateway.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...extra },
          body: key === registered ? '{"model": broken' : chat,
        });
        statuses.push(res.statusCode);
        await res.body.dump();
      }
      expect(statuses.filter((s) => s === 401)).toHaveLength(3); // unknown, admin and master keys are no tenant's
      await admin.delete('/tenants/leak-check/keys/does-not-exist');
    } finally {
      await gateway.stop();
    }

    const secrets = [minted!, registered, unknown, adminKey, 'sk-gateway-upstream-credential-77'];
    const logs = gateway.output();
    for (const secret of secrets) expect(logs, 'the logs').not.toContain(secret);

    const dump = JSON.stringify(await everyRow((await database.open()).db));
    for (const secret of secrets) expect(dump, 'the database').not.toContain(secret);

    // The master key is for LiteLLM's own management routes (prices, key sync), never a proxied request.
    const proxied = sim.requests.filter((r) => r.path.startsWith('/v1/'));
    expect(proxied.length).toBeGreaterThan(0);
    for (const seen of sim.requests) expect(JSON.stringify(seen)).not.toContain(adminKey);
    for (const seen of proxied) {
      expect(JSON.stringify(seen)).not.toContain(masterKey);
    }
  });
});

/** Every row of every table the gateway owns, as plain values. */
async function everyRow(db: Db): Promise<unknown[]> {
  const tables = await rowsOf<{ name: string }>(
    db,
    sql`select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`,
  );
  expect(tables.map((t) => t.name)).toContain('api_keys');
  const rows: unknown[] = [];
  for (const { name } of tables) rows.push(...(await rowsOf(db, sql.raw(`select * from "${name}"`))));
  return rows;
}
