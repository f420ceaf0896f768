import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import { startSimLiteLLM, type SimLiteLLM, type SimRequestInfo } from '../../src/sim/litellm.js';
import { freshPgliteDir } from '../support/databases.js';
import { createTestTenant, TEST_ADMIN_KEY, type TestTenant } from '../support/gateway.js';
import { ledgerRows } from '../support/ledger.js';
import { spawnGateway, type GatewayProcess } from './support/gateway-process.js';

/**
 * The gateway on its embedded defaults (PGlite in DATA_DIR, the in-process store) killed with
 * SIGKILL under load, while its database thread is writing ledger batches, then started again
 * on the same folder:
 * - PostgreSQL's crash recovery opens the folder;
 * - every request whose answer the client had in full well before the kill is in the ledger,
 *   once (batches go in every 100 ms, and a committed batch outlives the process); what was
 *   still queued when the process died is lost, as README *Where the numbers live* says;
 * - nothing is in the ledger that the upstream did not answer;
 * - the restarted gateway's spend is the ledger's sum (the in-process counters died with the
 *   process and are rebuilt from the ledger).
 */

/** How long before the kill an answer must have arrived to be owed a ledger row: the batch
 * interval is 100 ms, and the database thread runs at idle priority on a machine the test
 * keeps busy, so it is given far longer. */
const MARGIN_MS = 3_000;
const WORKERS = 4;

describe('SIGKILL of the embedded gateway under load', () => {
  let sim: SimLiteLLM;
  let dataDir: string;
  let tenant: TestTenant;
  let env: Record<string, string>;
  const gateways: GatewayProcess[] = [];
  const answered = new Set<string>();

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    sim.events.on('finished', (info: SimRequestInfo) => {
      const id = info.headers['x-litellm-call-id'];
      if (typeof id === 'string') answered.add(id);
    });
    dataDir = await freshPgliteDir(true);
    const database = await openDatabase({ dataDir });
    tenant = await createTestTenant(database.db, { maxBudgetMicros: 1_000_000_000 });
    await database.close();
    env = { DATA_DIR: dataDir, LITELLM_BASE_URL: sim.url, ADMIN_API_KEY: TEST_ADMIN_KEY };
  }, 60_000);
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop('SIGKILL')));
    await sim?.close();
    if (dataDir) rmSync(dirname(dataDir), { recursive: true, force: true });
  });

  it('restarts on the same folder with every request answered before the kill charged once, and spend rebuilt from the ledger', async () => {
    const first = await spawnGateway(env);
    gateways.push(first);
    const client = new OpenAI({ apiKey: tenant.key, baseURL: `${first.url}/v1`, maxRetries: 0 });
    const received: { id: string; at: number }[] = [];
    let stopping = false;
    const worker = async (): Promise<void> => {
      while (!stopping) {
        try {
          const { response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 }).withResponse();
          received.push({ id: response.headers.get('x-request-id')!, at: Date.now() });
        } catch (err) {
          if (!stopping) throw err;
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, worker);
    // Long enough for answers MARGIN_MS old at the kill, and for several batches in flight.
    await sleep(MARGIN_MS + 1_500);
    stopping = true;
    const killedAt = Date.now();
    await first.stop('SIGKILL');
    await Promise.all(workers);

    const owed = received.filter((r) => r.at < killedAt - MARGIN_MS).map((r) => r.id);
    expect(owed.length).toBeGreaterThan(100);

    const second = await spawnGateway(env);
    gateways.push(second);
    // Its first request seeds the tenant's counter from the ledger; the answer says what it found.
    const again = new OpenAI({ apiKey: tenant.key, baseURL: `${second.url}/v1`, maxRetries: 0 });
    const { response } = await again.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 }).withResponse();
    const spendSeen = Number(response.headers.get('x-budget-spend'));
    const lastId = response.headers.get('x-request-id')!;
    await second.stop('SIGTERM');

    const database = await openDatabase({ dataDir });
    try {
      const rows = await ledgerRows(database.db, tenant.tenantId);
      const ids = rows.map((r) => r.requestId);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.filter((id) => !answered.has(id))).toEqual([]);
      const inLedger = new Set(ids);
      expect(owed.filter((id) => !inLedger.has(id))).toEqual([]);
      expect(inLedger.has(lastId)).toBe(true); // SIGTERM wrote it
      const beforeLast = rows.filter((r) => r.requestId !== lastId).reduce((sum, r) => sum + Number(r.costMicros), 0);
      expect(beforeLast).toBeGreaterThan(0);
      expect(Math.round(spendSeen * 1_000_000)).toBe(beforeLast);
    } finally {
      await database.close();
    }
  }, 60_000);
});
