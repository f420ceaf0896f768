import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LedgerBatchWriter } from '../../src/ledger/batch-writer.js';
import { createLogger } from '../../src/logger.js';

const logger = createLogger('silent');

/** A database that takes `writeMs` per statement and records each statement's events. */
function slowSink(writeMs: number) {
  const statements: string[][] = [];
  let failNext = 0;
  const sink = async (events: readonly string[]): Promise<number> => {
    await new Promise((resolve) => setTimeout(resolve, writeMs));
    if (failNext > 0) {
      failNext--;
      throw new Error('database away');
    }
    statements.push([...events]);
    return events.length;
  };
  return { sink, statements, failTimes: (n: number) => (failNext = n) };
}

const written = (statements: string[][]) => statements.flat();

/** Stops the writer while the fake clock runs on, so its last writes can finish. */
async function stop(writer: LedgerBatchWriter): Promise<void> {
  const stopped = writer.stop();
  await vi.advanceTimersByTimeAsync(1_000);
  await stopped;
}

describe('LedgerBatchWriter', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('writes what gathered once per interval; what settles during a write waits for the next tick', async () => {
    const db = slowSink(10);
    const writer = new LedgerBatchWriter(db.sink, logger, { intervalMs: 100, maxBatch: 500 });
    writer.start();
    writer.enqueue('a');
    writer.enqueue('b');
    await vi.advanceTimersByTimeAsync(100 + 5);
    writer.enqueue('c'); // while a and b are being written
    await vi.advanceTimersByTimeAsync(5 + 50);
    expect(db.statements).toEqual([['a', 'b']]);
    await vi.advanceTimersByTimeAsync(100);
    expect(db.statements).toEqual([['a', 'b'], ['c']]);
    await stop(writer);
  });

  it('under steady traffic writes one statement per interval, not one per straggler', async () => {
    // One event every millisecond for a second, against statements of 5 ms: the queue is never empty.
    const db = slowSink(5);
    const writer = new LedgerBatchWriter(db.sink, logger, { intervalMs: 100, maxBatch: 500 });
    writer.start();
    for (let ms = 0; ms < 1_000; ms++) {
      writer.enqueue(String(ms));
      await vi.advanceTimersByTimeAsync(1);
    }
    expect(db.statements.length).toBeGreaterThanOrEqual(8);
    expect(db.statements.length).toBeLessThanOrEqual(10);
    await stop(writer);
    expect(written(db.statements)).toEqual(Array.from({ length: 1_000 }, (_, ms) => String(ms)));
  });

  it('writes a backlog in full statements of at most maxBatch within one tick, leaving the short rest for the next', async () => {
    const db = slowSink(1);
    const writer = new LedgerBatchWriter(db.sink, logger, { intervalMs: 100, maxBatch: 2 });
    writer.start();
    for (const e of ['a', 'b', 'c', 'd', 'e']) writer.enqueue(e);
    await vi.advanceTimersByTimeAsync(100 + 10);
    expect(db.statements).toEqual([['a', 'b'], ['c', 'd']]);
    expect(await writer.pending()).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(db.statements).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    await stop(writer);
  });

  it('keeps a batch the database refused and writes it, in order, once the database is back', async () => {
    const db = slowSink(1);
    const writer = new LedgerBatchWriter(db.sink, logger, { intervalMs: 100, maxBatch: 500 });
    db.failTimes(2);
    writer.start();
    writer.enqueue('a');
    await vi.advanceTimersByTimeAsync(100 + 5);
    writer.enqueue('b');
    expect(db.statements).toEqual([]);
    expect(await writer.pending()).toBe(2);
    // Back-off: 200 ms, then 400 ms after the second failure.
    await vi.advanceTimersByTimeAsync(200 + 400 + 10);
    expect(db.statements).toEqual([['a', 'b']]);
    expect(await writer.pending()).toBe(0);
    await stop(writer);
  });

  it('writes everything still queued when it stops, in statements of at most maxBatch', async () => {
    const db = slowSink(1);
    const writer = new LedgerBatchWriter(db.sink, logger, { intervalMs: 100, maxBatch: 2 });
    writer.start();
    for (const e of ['a', 'b', 'c']) writer.enqueue(e);
    await stop(writer);
    expect(db.statements).toEqual([['a', 'b'], ['c']]);
    expect(await writer.pending()).toBe(0);
  });
});
