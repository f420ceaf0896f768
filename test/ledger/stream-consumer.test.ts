import { randomUUID } from 'node:crypto';
import { setTimeout as wait } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LedgerStreamConsumer, type StreamConsumerOptions } from '../../src/ledger/stream-consumer.js';
import { encodeUsage } from '../../src/ledger/usage-event.js';
import { usageStreams, type UsageStreams } from '../../src/ledger/usage-stream.js';
import { createLogger } from '../../src/logger.js';
import { redisUrl } from '../support/services.js';
import { usageRecord } from '../support/ledger.js';
import { appendUsage, dropKeys } from '../support/stores.js';

const url = redisUrl();
const requestIdOf = (event: string) => (JSON.parse(event) as { request_id: string }).request_id;
const eventsFor = (ids: readonly string[]) => ids.map((id) => encodeUsage(usageRecord(id)));

describe.skipIf(!url)(url ? 'the ledger stream consumer' : 'the ledger stream consumer (set TEST_REDIS_URL to run)', () => {
  const prefix = `bgtest:${randomUUID()}:`;
  let redis: Redis;
  const running: LedgerStreamConsumer[] = [];
  beforeAll(() => {
    redis = new Redis(url!);
  });
  afterAll(async () => {
    await Promise.all(running.map((c) => c.stop()));
    await redis.quit();
    await dropKeys(url!, prefix);
  });

  /** Streams of their own per test. */
  const streamsFor = (name: string): UsageStreams => usageStreams(`${prefix}${name}:`);
  const consumer = (
    streams: UsageStreams,
    name: string,
    sink: (events: readonly string[]) => Promise<number>,
    claimIdleMs = 200,
    batching: Partial<Pick<StreamConsumerOptions, 'batchEvents' | 'lingerMs'>> = {},
  ) => {
    const c = new LedgerStreamConsumer(new Redis(url!), sink, createLogger('silent'), {
      streams,
      group: 'ledger',
      consumer: name,
      batchEvents: 100,
      blockMs: 100,
      claimIdleMs,
      lingerMs: 20,
      ...batching,
    });
    running.push(c);
    return c;
  };
  const recorder = (into: string[]) => async (events: readonly string[]) => {
    into.push(...events.map(requestIdOf));
    return events.length;
  };
  /** A recorder that also keeps each batch's size. */
  const batchRecorder = (batches: number[], into: string[]) => async (events: readonly string[]) => {
    batches.push(events.length);
    return recorder(into)(events);
  };

  it('writes every event of an entry, and counts events waiting, not entries', async () => {
    const streams = streamsFor('count');
    await redis.xgroup('CREATE', streams.stream, 'ledger', '0', 'MKSTREAM');
    const ids = Array.from({ length: 16 }, (_, i) => `count-${i}`);
    await appendUsage(redis, streams, eventsFor(ids), 7); // entries of 7, 7 and 2 events
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const written: string[] = [];
    const held = consumer(streams, 'held', async (events) => {
      await gate;
      return recorder(written)(events);
    });
    held.start();
    // Read, not yet written: all 16 still wait.
    await vi.waitFor(async () => expect(((await redis.xpending(streams.stream, 'ledger')) as unknown[])[0]).toBe(3), { timeout: 5_000, interval: 20 });
    expect(await held.pending()).toBe(16);
    open();
    await vi.waitFor(() => expect(written.sort()).toEqual([...ids].sort()), { timeout: 5_000, interval: 20 });
    await vi.waitFor(async () => expect(await held.pending()).toBe(0), { timeout: 5_000, interval: 20 });
    expect(await redis.xlen(streams.stream)).toBe(0);
    expect(await redis.get(streams.count)).toBe('0');
  });

  it('lets usage gather after a short write: the next waits until batchEvents events wait to be read, or lingerMs has passed', async () => {
    const streams = streamsFor('gather');
    const batches: number[] = [];
    const written: string[] = [];
    const gatherer = consumer(streams, 'gatherer', batchRecorder(batches, written), 60_000, { batchEvents: 50, lingerMs: 60_000 });
    gatherer.start();
    await vi.waitFor(async () => expect(await redis.exists(streams.stream)).toBe(1), { timeout: 5_000, interval: 20 });
    // After a quiet spell the first usage goes at once: the read was waiting for it.
    await appendUsage(redis, streams, eventsFor(['first']));
    await vi.waitFor(() => expect(written).toEqual(['first']), { timeout: 5_000, interval: 20 });
    // Meanwhile another replica reads 60 events and is still writing them: they are not this
    // one's to read, so they do not count (appended and read in one step, never seen unread).
    const others = eventsFor(Array.from({ length: 60 }, (_, i) => `other-${i}`));
    const appended = redis.multi();
    for (let at = 0; at < others.length; at += 5) appended.xadd(streams.stream, '*', ...others.slice(at, at + 5).flatMap((e) => ['e', e]));
    await appended.incrby(streams.count, 60).xreadgroup('GROUP', 'ledger', 'other-replica', 'COUNT', 12, 'STREAMS', streams.stream, '>').exec();
    // The first write was short of 50 events, so the next waits for more (a minute at most, here).
    await appendUsage(redis, streams, eventsFor(Array.from({ length: 30 }, (_, i) => `more-${i}`)), 5);
    await wait(600);
    expect(written).toEqual(['first']);
    // Once 50 wait to be read they go together, the minute not waited out.
    await appendUsage(redis, streams, eventsFor(Array.from({ length: 20 }, (_, i) => `rest-${i}`)), 5);
    await vi.waitFor(() => expect(written).toHaveLength(51), { timeout: 5_000, interval: 20 });
    expect(batches).toEqual([1, 50]);
    expect(written.some((id) => id.startsWith('other-'))).toBe(false);

    // With a short lingerMs, what gathered goes when it has passed.
    const quick = streamsFor('gather-quick');
    const quickWritten: string[] = [];
    const lingering = consumer(quick, 'lingering', recorder(quickWritten), 60_000, { batchEvents: 50, lingerMs: 300 });
    lingering.start();
    await vi.waitFor(async () => expect(await redis.exists(quick.stream)).toBe(1), { timeout: 5_000, interval: 20 });
    await appendUsage(redis, quick, eventsFor(['q-first']));
    await vi.waitFor(() => expect(quickWritten).toEqual(['q-first']), { timeout: 5_000, interval: 20 });
    await appendUsage(redis, quick, eventsFor(['q-1', 'q-2', 'q-3']), 3);
    await vi.waitFor(() => expect(quickWritten.sort()).toEqual(['q-1', 'q-2', 'q-3', 'q-first']), { timeout: 5_000, interval: 20 });
  });

  it('sizes each read to about batchEvents events, from the events per entry of the last', async () => {
    const streams = streamsFor('sized');
    await redis.xgroup('CREATE', streams.stream, 'ledger', '0', 'MKSTREAM');
    await appendUsage(redis, streams, eventsFor(Array.from({ length: 200 }, (_, i) => `sized-${i}`)), 5); // 40 entries of 5
    const batches: number[] = [];
    const written: string[] = [];
    const sized = consumer(streams, 'sized', batchRecorder(batches, written), 60_000, { batchEvents: 50, lingerMs: 20 });
    sized.start();
    await vi.waitFor(() => expect(written).toHaveLength(200), { timeout: 5_000, interval: 20 });
    // The first read guesses the events per entry; each after it takes 10 entries of 5.
    expect(Math.max(...batches)).toBeLessThanOrEqual(50);
    expect(batches.slice(1, -1).every((n) => n === 50)).toBe(true);
    expect(new Set(written).size).toBe(200);
  });

  it('takes over the events a dead replica had read but never written, and deletes what it wrote', async () => {
    const streams = streamsFor('takeover');
    await redis.xgroup('CREATE', streams.stream, 'ledger', '0', 'MKSTREAM');
    await appendUsage(redis, streams, eventsFor(['a', 'b', 'c']), 2);
    // A replica reads them, then dies before writing or acknowledging them.
    await redis.xreadgroup('GROUP', 'ledger', 'dead-replica', 'COUNT', 10, 'STREAMS', streams.stream, '>');

    const written: string[] = [];
    const survivor = consumer(streams, 'survivor', recorder(written));
    survivor.start();
    await vi.waitFor(() => expect(written.sort()).toEqual(['a', 'b', 'c']), { timeout: 5_000, interval: 20 });
    await survivor.stop();
    expect(await redis.xlen(streams.stream)).toBe(0);
    expect(await survivor.pending()).toBe(0);
    expect(await redis.get(streams.count)).toBe('0');
  });

  it('takes an entry off the count once, when a replica thought dead writes it after the one that took it over', async () => {
    const streams = streamsFor('twice');
    await redis.xgroup('CREATE', streams.stream, 'ledger', '0', 'MKSTREAM');
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const slowWrites: string[] = [];
    const slow = consumer(streams, 'slow', async (events) => {
      await gate; // stalls past the claim time, so its entries are taken over
      return recorder(slowWrites)(events);
    }, 60_000);
    slow.start();
    await appendUsage(redis, streams, eventsFor(['x1', 'x2', 'x3', 'x4', 'x5']), 5);
    await vi.waitFor(async () => expect(((await redis.xpending(streams.stream, 'ledger')) as unknown[])[0]).toBe(1), { timeout: 5_000, interval: 20 });

    const written: string[] = [];
    const claimer = consumer(streams, 'claimer', recorder(written));
    claimer.start();
    await vi.waitFor(() => expect(written.sort()).toEqual(['x1', 'x2', 'x3', 'x4', 'x5']), { timeout: 5_000, interval: 20 });
    expect(await redis.get(streams.count)).toBe('0');
    open(); // the slow one writes the same events again (the ledger keeps each once) and acknowledges
    await vi.waitFor(() => expect(slowWrites).toHaveLength(5), { timeout: 5_000, interval: 20 });
    await slow.stop();
    await claimer.stop();
    expect(await redis.get(streams.count)).toBe('0');
  });

  it('keeps events in Redis while the database refuses them, and writes them once it takes them', async () => {
    const streams = streamsFor('flaky');
    let databaseUp = false;
    const written: string[] = [];
    const flaky = consumer(streams, 'flaky', async (events) => {
      if (!databaseUp) throw new Error('database unavailable');
      return recorder(written)(events);
    });
    flaky.start();
    await vi.waitFor(async () => expect(await redis.exists(streams.stream)).toBe(1), { timeout: 5_000, interval: 20 });
    await appendUsage(redis, streams, eventsFor(['d', 'e']));
    await vi.waitFor(async () => expect(((await redis.xpending(streams.stream, 'ledger')) as unknown[])[0]).toBe(1), { timeout: 5_000, interval: 20 });
    expect(await redis.xlen(streams.stream)).toBe(1);
    expect(await flaky.pending()).toBe(2);
    databaseUp = true;
    await vi.waitFor(() => expect(written.sort()).toEqual(['d', 'e']), { timeout: 10_000, interval: 20 });
    await flaky.stop();
    expect(await redis.xlen(streams.stream)).toBe(0);
  });

  it('writes what replicas of an earlier version put in their stream (one event per entry), made before or after it started', async () => {
    const before = streamsFor('legacy-before');
    await redis.xadd(before.legacy, '*', 'e', encodeUsage(usageRecord('old-1')));
    const written: string[] = [];
    const reader = consumer(before, 'reader', recorder(written));
    reader.start();
    await vi.waitFor(() => expect(written).toEqual(['old-1']), { timeout: 5_000, interval: 20 });
    // Both streams at once: the old replica's and a new one's.
    await redis.xadd(before.legacy, '*', 'e', encodeUsage(usageRecord('old-2')));
    await appendUsage(redis, before, eventsFor(['new-1', 'new-2']));
    await vi.waitFor(() => expect(written.sort()).toEqual(['new-1', 'new-2', 'old-1', 'old-2']), { timeout: 5_000, interval: 20 });
    await vi.waitFor(async () => expect(await reader.pending()).toBe(0), { timeout: 5_000, interval: 20 });
    expect(await redis.xlen(before.legacy)).toBe(0);

    // An older replica that starts later makes its stream while this one runs: found on the next
    // claim pass (a third of the claim time).
    const after = streamsFor('legacy-after');
    const late: string[] = [];
    const waiting = consumer(after, 'waiting', recorder(late));
    waiting.start();
    await vi.waitFor(async () => expect(await redis.exists(after.stream)).toBe(1), { timeout: 5_000, interval: 20 });
    await redis.xadd(after.legacy, '*', 'e', encodeUsage(usageRecord('old-3')));
    await vi.waitFor(() => expect(late).toEqual(['old-3']), { timeout: 5_000, interval: 20 });
    await waiting.stop();
    expect(await redis.xlen(after.legacy)).toBe(0);
  });
});
