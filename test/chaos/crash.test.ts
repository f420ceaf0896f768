import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../src/db/client.js';
import { getTenant } from '../../src/db/tenants.js';
import { usageStreams } from '../../src/ledger/usage-stream.js';
import { startSimLiteLLM, type SimLiteLLM, type SimRequestInfo } from '../../src/sim/litellm.js';
import { createTestTenant, TEST_ADMIN_KEY, type TestTenant } from '../support/gateway.js';
import { ledgerRows } from '../support/ledger.js';
import { databaseUrl } from '../support/services.js';
import { processDatabase, spawnGateway, type GatewayProcess } from './support/gateway-process.js';
import { startPrivateRedis, type PrivateRedis } from './support/private-redis.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

/**
 * Three real gateway processes share Redis and PostgreSQL under continuous streaming load; one
 * is killed with SIGKILL while streams pass through it, then started again.
 *
 * What "every request the upstream answered is in the ledger exactly once" means here:
 * - answered through a replica that lived (the two others, and the restarted one): in the
 *   ledger, once, whatever happened to the killed one's unwritten usage events;
 * - answered through the killed replica: a request is charged when its settle runs (one Lua
 *   script: the spend counter and the usage event in the stream, atomically). If it ran before
 *   the kill, the event is in Redis and must reach the ledger once, even if the dead replica had
 *   read it from the stream without writing it (another replica claims it after
 *   LEDGER_CLAIM_IDLE_MS). If it did not run, the request was never charged anywhere, neither
 *   counter nor ledger: the gateway died holding the only record of it. So for these the test
 *   demands consistency rather than presence: every tenant's spend counter equals its ledger sum
 *   (every charge that ran is in the ledger, nothing in the ledger was not charged), and the
 *   ledger holds no request the upstream did not answer.
 */

const url = databaseUrl();
/** Streams of 5 chunks, 40 ms apart: each one is under way for about 200 ms. */
const SIM_OPTIONS = { chunks: 5, chunkDelayMs: 40 };
const WORKERS_PER_REPLICA = 4;

interface Streamed {
  readonly replica: number;
  readonly generation: number;
  readonly tenantId: string;
  requestId?: string;
  status?: number;
  /** Headers arrived and the body ended normally ([DONE] seen). */
  complete: boolean;
  /** Headers arrived, then the connection broke. */
  cut: boolean;
}

describe.skipIf(!url)(`SIGKILL of one of three gateway processes mid-stream${url ? '' : ' (set TEST_DATABASE_URL to run)'}`, () => {
  let redis: PrivateRedis;
  let sim: SimLiteLLM;
  let database: Awaited<ReturnType<typeof processDatabase>>;
  let db: Database;
  let env: Record<string, string>;
  /** The replica that dies reaches PostgreSQL through this, so its ledger writes can be made to hang. */
  let proxy: TcpProxy;
  const replicas: GatewayProcess[] = [];
  /** Bumped when a replica restarts, so requests to the dead one and the new one are told apart. */
  const generations = [0, 0, 0];
  /** Workers of a replica that is down wait for its successor instead of knocking on a closed port. */
  const up = [true, true, true];
  let tenants: TestTenant[];
  const answered = new Map<string, SimRequestInfo>();

  beforeAll(async () => {
    redis = await startPrivateRedis();
    sim = await startSimLiteLLM(SIM_OPTIONS);
    sim.events.on('finished', (info: SimRequestInfo) => {
      const id = info.headers['x-litellm-call-id'];
      if (typeof id === 'string' && info.path.endsWith('/chat/completions')) answered.set(id, info);
    });
    database = await processDatabase();
    db = await database.open();
    env = {
      ...database.env,
      LITELLM_BASE_URL: sim.url,
      REDIS_URL: redis.url,
      ADMIN_API_KEY: TEST_ADMIN_KEY,
      LEDGER_CLAIM_IDLE_MS: '1000',
      LOG_LEVEL: 'info',
    };
    const direct = new URL(database.env.DATABASE_URL!);
    proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    direct.host = `127.0.0.1:${proxy.port}`;
    replicas.push(...(await Promise.all([0, 1, 2].map((i) => spawnGateway(i === 1 ? { ...env, DATABASE_URL: direct.toString() } : env)))));
    tenants = await Promise.all(Array.from({ length: 4 }, () => createTestTenant(db.db, { maxBudgetMicros: 1_000_000_000 })));
  }, 90_000);
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop('SIGKILL')));
    await proxy?.close();
    await sim?.close();
    await redis?.stop();
    await database?.close();
  });

  it('charges every request the upstream answered exactly once, and spend counters equal the ledger', async () => {
    const streamed: Streamed[] = [];
    let running = true;
    let n = 0;
    const loops = Array.from({ length: WORKERS_PER_REPLICA * 3 }, async (_, w) => {
      const replica = w % 3;
      while (running) {
        if (!up[replica]) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        const tenant = tenants[n++ % tenants.length]!;
        const one: Streamed = { replica, generation: generations[replica]!, tenantId: tenant.tenantId, complete: false, cut: false };
        streamed.push(one);
        await streamChat(replicas[replica]!.url, tenant.key, one);
      }
    });
    const through = (replica: number, generation: number) => streamed.filter((s) => s.replica === replica && s.generation === generation);

    // Load on all three. The middle one's database writes then hang, so usage events it reads
    // from the stream stay pending under its name; it dies with them, and with streams under way.
    await vi.waitFor(() => expect(streamed.filter((s) => s.complete).length).toBeGreaterThanOrEqual(60), { timeout: 20_000 });
    proxy.stall();
    const doomed = `${hostname()}:${replicas[1]!.child.pid}`;
    await vi.waitFor(async () => expect((await pendingByConsumer())[doomed]).toBeGreaterThan(0), { timeout: 10_000, interval: 20 });
    const pendingAtKill = (await pendingByConsumer())[doomed]!;
    // The kill follows the sight of a stream under way within a poll (a stream lasts ~200 ms).
    await vi.waitFor(() => expect(through(1, 0).some((s) => s.status === 200 && !s.complete && !s.cut)).toBe(true), { timeout: 5_000, interval: 5 });
    up[1] = false;
    await replicas[1]!.stop('SIGKILL');
    await vi.waitFor(() => expect(through(1, 0).some((s) => s.cut)).toBe(true), { timeout: 5_000 });

    // A new process (a new consumer name, straight to PostgreSQL) takes its place; load goes on through all three.
    replicas[1] = await spawnGateway(env);
    generations[1] = 1;
    up[1] = true;
    const completeBefore = streamed.filter((s) => s.complete).length;
    await vi.waitFor(() => expect(through(1, 1).filter((s) => s.complete).length).toBeGreaterThanOrEqual(20), { timeout: 20_000 });
    await vi.waitFor(() => expect(streamed.filter((s) => s.complete).length).toBeGreaterThanOrEqual(completeBefore + 60), { timeout: 20_000 });
    running = false;
    await Promise.all(loops);

    // Only the killed replica's requests may have failed, and only by being cut or refused.
    const survivors = streamed.filter((s) => !(s.replica === 1 && s.generation === 0));
    expect(survivors.filter((s) => !s.complete), 'requests through live replicas all completed').toEqual([]);
    const killed = through(1, 0);

    // The ledger flush: everything charged reaches the database, the stream is left empty. A
    // survivor's last settles may still be gathering (2 ms) when its client has its answer, so
    // wait for its rows too, not only for an empty stream.
    const store = new Redis(redis.url);
    const survivorIdsOf = () => survivors.map((s) => s.requestId!);
    try {
      await vi.waitFor(
        async () => {
          expect(await store.xlen(usageStreams('bg:').stream)).toBe(0);
          expect(await store.get(usageStreams('bg:').count)).toBe('0');
          expect(await pendingByConsumer()).toEqual({});
          const stored = new Set((await Promise.all(tenants.map((t) => ledgerRows(db.db, t.tenantId)))).flat().map((r) => r.requestId));
          expect(survivorIdsOf().filter((id) => !stored.has(id))).toEqual([]);
        },
        { timeout: 15_000, interval: 200 },
      );
      const rows = (await Promise.all(tenants.map((t) => ledgerRows(db.db, t.tenantId)))).flat();
      const ledgerIds = rows.map((r) => r.requestId);
      expect(new Set(ledgerIds).size, 'no request is in the ledger twice').toBe(ledgerIds.length);

      // Through a replica that lived: every answered request, exactly once.
      const survivorIds = survivors.map((s) => s.requestId!);
      for (const id of survivorIds) expect(answered.has(id), `the upstream answered ${id}`).toBe(true);
      expect(ledgerIds.filter((id) => survivorIds.includes(id)).sort()).toEqual([...survivorIds].sort());

      // Nothing charged that the upstream did not answer; what the killed replica served is in
      // the ledger unless it died before settling it (then it was charged nowhere, see below).
      for (const id of ledgerIds) expect(answered.has(id), `ledger row ${id} was answered upstream`).toBe(true);
      const unrecorded = [...answered.keys()].filter((id) => !ledgerIds.includes(id));
      expect(unrecorded.length).toBeLessThanOrEqual(killed.length);

      // Spend counters equal the ledger sums: every charge that ran is in the ledger, once.
      for (const tenant of tenants) {
        const ledgerSpend = rows.filter((r) => r.tenantId === tenant.tenantId).reduce((sum, r) => sum + r.costMicros, 0);
        const { periodStartedAt } = (await getTenant(db.db, tenant.tenantId))!;
        const bucket = `bg:tenant:${tenant.tenantId}:${periodStartedAt.getTime()}:usd`;
        expect(Number(await store.hget(bucket, 'spend')), bucket).toBe(ledgerSpend);
      }
      // What the dead replica held was taken over by one that lived.
      expect(pendingAtKill).toBeGreaterThan(0);
      expect(replicas.some((r) => r.output().includes('took over usage events a stopped replica had read'))).toBe(true);
      console.info(
        `crash: ${streamed.length} streams, ${killed.length} through the killed replica (${killed.filter((s) => s.cut).length} cut mid-stream), ` +
          `${answered.size} answered upstream, ${rows.length} in the ledger, ${unrecorded.length} answered but never settled; ` +
          `${pendingAtKill} usage events pending under the killed replica's name at the kill`,
      );
    } finally {
      store.disconnect();
    }
  }, 120_000);

  /** Entries read from the usage stream but not yet acknowledged, per consumer. */
  async function pendingByConsumer(): Promise<Record<string, number>> {
    const store = new Redis(redis.url);
    try {
      const [count, , , consumers] = (await store.xpending(usageStreams('bg:').stream, 'ledger').catch(() => [0, null, null, null])) as [number, unknown, unknown, [string, string][] | null];
      return count === 0 ? {} : Object.fromEntries((consumers ?? []).map(([name, pending]) => [name, Number(pending)]));
    } finally {
      store.disconnect();
    }
  }
});

/** One streamed chat request; records the request id, whether it completed or was cut. */
async function streamChat(baseUrl: string, key: string, into: Streamed): Promise<void> {
  try {
    const res = await request(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, stream: true }),
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    });
    into.status = res.statusCode;
    into.requestId = res.headers['x-request-id'] as string | undefined;
    let text = '';
    try {
      for await (const chunk of res.body) text += chunk;
    } catch {
      into.cut = true;
      return;
    }
    into.complete = res.statusCode === 200 && text.includes('data: [DONE]');
    into.cut = !into.complete;
  } catch {
    // The connection was refused or broke before any headers: the replica is gone.
  }
}
