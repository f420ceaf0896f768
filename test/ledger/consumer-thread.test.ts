import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LedgerConsumerThread, type ConsumerThreadSettings } from '../../src/ledger/consumer-thread.js';
import { encodeUsage } from '../../src/ledger/usage-event.js';
import { usageStreams } from '../../src/ledger/usage-stream.js';
import { openTestDatabase, rowsOf, type TestDatabase } from '../support/databases.js';
import { databaseUrl, redisUrl } from '../support/services.js';
import { usageRecord } from '../support/ledger.js';
import { appendUsage, dropKeys } from '../support/stores.js';

const redisAt = redisUrl();
const postgresAt = databaseUrl();
const runs = redisAt !== undefined && postgresAt !== undefined;

/** A thread's scheduling policy, from /proc (field 41 of its stat): 0 normal, 5 SCHED_IDLE. */
function policyOf(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
}

describe.skipIf(!runs)(runs ? 'the ledger consumer in its own thread' : 'the ledger consumer in its own thread (set TEST_REDIS_URL and TEST_DATABASE_URL to run)', () => {
  const prefix = `bgtest:${randomUUID()}:`;
  let redis: Redis;
  let database: TestDatabase;
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) });

  beforeAll(async () => {
    redis = new Redis(redisAt!);
    database = await openTestDatabase('postgres');
  });
  afterAll(async () => {
    await redis.quit();
    await dropKeys(redisAt!, prefix);
    await database.close();
  });

  const settings = (name: string): ConsumerThreadSettings => ({
    redisUrl: redisAt!,
    database: database.database.connection!,
    consumer: { streams: usageStreams(`${prefix}${name}:`), group: 'ledger', consumer: name, batchEvents: 100, blockMs: 100, claimIdleMs: 60_000, lingerMs: 20 },
    logLevel: 'silent',
  });
  const add = (s: ConsumerThreadSettings, ids: readonly string[]) =>
    appendUsage(redis, s.consumer.streams, ids.map((id) => encodeUsage(usageRecord(id, { tenantId: 'thread-test' }))));
  const ledgerHas = async (ids: readonly string[]): Promise<number> => {
    const [row] = await rowsOf<{ n: string }>(database.database.db, sql`select count(*) as n from usage_ledger where request_id in ${ids}`);
    return Number(row!.n);
  };

  it('writes the stream to the database from a thread at idle priority, and leaves the caller’s thread alone', async () => {
    const s = settings('writer');
    const thread = new LedgerConsumerThread(s, logger);
    thread.start();
    const ids = Array.from({ length: 50 }, () => randomUUID());
    await add(s, ids);
    await vi.waitFor(async () => expect(await ledgerHas(ids)).toBe(50), { timeout: 10_000, interval: 50 });
    await vi.waitFor(async () => expect(await thread.pending()).toBe(0), { timeout: 5_000, interval: 50 });

    const tid = await thread.tid();
    expect(tid).toBeGreaterThan(0);
    expect(tid).not.toBe(process.pid);
    await vi.waitFor(() => expect(policyOf(tid!)).toBe(5), { timeout: 5_000, interval: 20 });
    expect(policyOf(process.pid)).toBe(0);
    await thread.stop();
  });

  it('counts what waits in Redis, and writes it all before it stops', async () => {
    const s = settings('stopper');
    // The group exists before the thread does, so the events wait for it.
    await redis.xgroup('CREATE', s.consumer.streams.stream, 'ledger', '0', 'MKSTREAM');
    const ids = Array.from({ length: 30 }, () => randomUUID());
    await add(s, ids);
    const thread = new LedgerConsumerThread(s, logger);
    expect(await thread.pending()).toBe(0); // no thread yet: the last count
    thread.start();
    await thread.tid();
    await thread.stop();
    expect(await ledgerHas(ids)).toBe(30);
    expect(await redis.xlen(s.consumer.streams.stream)).toBe(0);
    expect(await redis.get(s.consumer.streams.count)).toBe('0');
  });

  it('starts a thread that died again, and nothing that waited in Redis meanwhile is lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-consumer-thread-'));
    const s = settings('phoenix');
    const thread = new LedgerConsumerThread({ ...s, consumer: { ...s.consumer, consumer: join(dir, 'started') } }, logger, {
      from: import.meta.url,
      module: './fixtures/fails-once-worker',
    });
    try {
      thread.start();
      const ids = Array.from({ length: 10 }, () => randomUUID());
      await add(s, ids);
      await vi.waitFor(async () => expect(await ledgerHas(ids)).toBe(10), { timeout: 15_000, interval: 50 });
      expect(logs.some((line) => line.includes('ledger consumer thread stopped; starting it again'))).toBe(true);
    } finally {
      await thread.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
