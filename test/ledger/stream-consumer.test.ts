import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LedgerStreamConsumer } from '../../src/ledger/stream-consumer.js';
import { encodeUsage } from '../../src/ledger/usage-event.js';
import { createLogger } from '../../src/logger.js';
import { redisUrl } from '../support/services.js';
import { usageRecord } from '../support/ledger.js';
import { dropKeys } from '../support/stores.js';

const url = redisUrl();
const requestIdOf = (event: string) => (JSON.parse(event) as { request_id: string }).request_id;

describe.skipIf(!url)(url ? 'the ledger stream consumer' : 'the ledger stream consumer (set TEST_REDIS_URL to run)', () => {
  const prefix = `bgtest:${randomUUID()}:`;
  const stream = `${prefix}usage`;
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(url!);
  });
  afterAll(async () => {
    await redis.quit();
    await dropKeys(url!, prefix);
  });

  const consumer = (name: string, sink: (events: readonly string[]) => Promise<number>) =>
    new LedgerStreamConsumer(new Redis(url!), sink, createLogger('silent'), {
      stream,
      group: 'ledger',
      consumer: name,
      batch: 100,
      blockMs: 100,
      claimIdleMs: 200,
      lingerMs: 20,
    });

  it('takes over the events a dead replica had read but never written, and deletes what it wrote', async () => {
    await redis.xgroup('CREATE', stream, 'ledger', '0', 'MKSTREAM');
    await redis.xadd(stream, '*', 'e', encodeUsage(usageRecord('a')));
    await redis.xadd(stream, '*', 'e', encodeUsage(usageRecord('b')));
    // A replica reads both, then dies before writing or acknowledging them.
    await redis.xreadgroup('GROUP', 'ledger', 'dead-replica', 'COUNT', 10, 'STREAMS', stream, '>');

    const written: string[] = [];
    const survivor = consumer('survivor', async (events) => {
      written.push(...events.map(requestIdOf));
      return events.length;
    });
    survivor.start();
    await vi.waitFor(() => expect(written.sort()).toEqual(['a', 'b']), { timeout: 5_000, interval: 20 });
    await survivor.stop();
    expect(await redis.xlen(stream)).toBe(0);
    expect(await survivor.pending()).toBe(0);
  });

  it('keeps events in Redis while the database refuses them, and writes them once it takes them', async () => {
    let databaseUp = false;
    const written: string[] = [];
    const flaky = consumer('flaky', async (events) => {
      if (!databaseUp) throw new Error('database unavailable');
      written.push(...events.map(requestIdOf));
      return events.length;
    });
    flaky.start();
    await redis.xadd(stream, '*', 'e', encodeUsage(usageRecord('c')));
    await vi.waitFor(async () => expect(((await redis.xpending(stream, 'ledger')) as unknown[])[0]).toBe(1), { timeout: 5_000, interval: 20 });
    expect(await redis.xlen(stream)).toBe(1);
    databaseUp = true;
    await vi.waitFor(() => expect(written).toEqual(['c']), { timeout: 10_000, interval: 20 });
    await flaky.stop();
    expect(await redis.xlen(stream)).toBe(0);
  });
});
