import type { Logger } from '../logger.js';
import type { LedgerPipeline, LedgerSink } from './usage-event.js';

export interface BatchWriterOptions {
  readonly intervalMs: number;
  readonly maxBatch: number;
}

/**
 * The ledger path without Redis: settled usage queues in memory and is written to the database
 * in batches every `intervalMs`. A failed write keeps the batch and retries with back-off, so a
 * database outage delays rows but drops none while the process lives; what a crash can lose is
 * what waits for the next tick and the batch being written, about one interval of usage (with
 * Redis, the stream closes that gap; test/chaos/embedded-crash.test.ts).
 *
 * Each tick writes what has gathered, in statements of at most `maxBatch`, and goes on only
 * while a full statement's worth is waiting: what settles during a write waits for the next tick.
 * A statement costs about as much as dozens of rows (1.1-1.6 ms in PGlite), so writing the
 * stragglers at once would keep the database busy with statements of a row or two: under steady
 * traffic the queue is never empty.
 */
export class LedgerBatchWriter implements LedgerPipeline {
  #queue: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #failures = 0;

  constructor(
    private readonly sink: LedgerSink,
    private readonly logger: Logger,
    private readonly options: BatchWriterOptions = { intervalMs: 100, maxBatch: 500 },
  ) {}

  /** Called inside the store's settle step. */
  readonly enqueue = (event: string): void => {
    this.#queue.push(event);
  };

  start(): void {
    this.#schedule(this.options.intervalMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
    while (this.#queue.length > 0 && (await this.#flush())) {
      // drain what is left; stop retrying once the database refuses
    }
  }

  async pending(): Promise<number> {
    return this.#queue.length;
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#flushing = this.#flushAll().finally(() => {
        this.#flushing = undefined;
        if (this.#timer !== undefined) this.#schedule(this.#backoffMs());
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #flushAll(): Promise<void> {
    if (this.#queue.length === 0) return;
    while ((await this.#flush()) && this.#queue.length >= this.options.maxBatch) {
      // a backlog of full statements: write on
    }
  }

  /** Writes one batch; false when the database failed (the batch stays queued). */
  async #flush(): Promise<boolean> {
    const batch = this.#queue.slice(0, this.options.maxBatch);
    try {
      await this.sink(batch);
      this.#queue.splice(0, batch.length);
      if (this.#failures > 0) this.logger.info({ after: this.#failures }, 'ledger writes recovered');
      this.#failures = 0;
      return true;
    } catch (err) {
      this.#failures++;
      if (this.#failures === 1 || this.#failures % 50 === 0) {
        this.logger.error({ err: (err as Error).message, pending: this.#queue.length }, 'ledger write failed; retrying');
      }
      return false;
    }
  }

  #backoffMs(): number {
    return this.#failures === 0 ? this.options.intervalMs : Math.min(5_000, this.options.intervalMs * 2 ** this.#failures);
  }
}
