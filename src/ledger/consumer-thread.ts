import { setTimeout as wait } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import type { PostgresConnection } from '../db/client.js';
import type { Logger } from '../logger.js';
import { moduleWorker, runAsBackground } from '../threads.js';
import type { StreamConsumerOptions } from './stream-consumer.js';
import type { LedgerPipeline } from './usage-event.js';

export interface ConsumerThreadSettings {
  readonly redisUrl: string;
  readonly database: PostgresConnection;
  readonly consumer: StreamConsumerOptions;
  readonly logLevel: string;
}

/** The module the thread runs, relative to `from`; another one only in tests. */
export interface ThreadEntry {
  readonly from: string;
  readonly module: string;
}

export type ToConsumerThread = { op: 'pending'; id: number } | { op: 'stop' };
export type FromConsumerThread = { op: 'ready'; tid: number | null } | { op: 'pending'; id: number; pending: number } | { op: 'stopped' };

const CONSUMER_WORKER: ThreadEntry = { from: import.meta.url, module: './consumer-worker' };
/** A thread that stopped unexpectedly is started again after this long. */
const RESTART_AFTER_MS = 1_000;
/** How long `pending()` waits for the thread's answer before giving the last one (a scrape must not hang). */
const PENDING_ANSWER_MS = 500;

/**
 * The Redis ledger consumer (`LedgerStreamConsumer`, see consumer-worker.ts) in a thread of its
 * own, with its own Redis and PostgreSQL connections, at idle scheduling priority: reading the
 * stream, sending each batch to the database and acknowledging it no longer take turns with
 * requests, and the thread gives way at once to any that wakes. Usage waits in Redis while the
 * thread is busy or down; one that stops unexpectedly is started again.
 */
export class LedgerConsumerThread implements LedgerPipeline {
  #worker: Worker | undefined;
  #stopping = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #lastPending = 0;
  #nextId = 1;
  readonly #answers = new Map<number, (pending: number) => void>();
  #stopped: (() => void) | undefined;
  #ready: Promise<number | null> | undefined;

  constructor(
    private readonly settings: ConsumerThreadSettings,
    private readonly logger: Logger,
    private readonly entry: ThreadEntry = CONSUMER_WORKER,
  ) {}

  start(): void {
    const worker = moduleWorker(this.entry.from, this.entry.module, { workerData: this.settings });
    this.#worker = worker;
    // It never holds the process open: `stop()` ends it.
    worker.unref();
    let ready: (tid: number | null) => void = () => {};
    this.#ready = new Promise((resolve) => (ready = resolve));
    worker.on('message', (message: FromConsumerThread) => {
      if (message.op === 'ready') {
        ready(message.tid);
        void this.#background(message.tid);
      } else if (message.op === 'pending') this.#answers.get(message.id)?.(message.pending);
      else this.#stopped?.();
    });
    worker.on('error', (err) => this.logger.error({ err: err.message }, 'ledger consumer thread failed'));
    worker.on('exit', (code) => {
      ready(null);
      this.#worker = undefined;
      this.#stopped?.();
      if (this.#stopping) return;
      this.logger.error({ code }, `ledger consumer thread stopped; starting it again in ${RESTART_AFTER_MS} ms (usage waits in Redis meanwhile)`);
      this.#restartTimer = setTimeout(() => this.start(), RESTART_AFTER_MS);
      this.#restartTimer.unref();
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    const worker = this.#worker;
    if (worker === undefined) return;
    const stopped = new Promise<void>((resolve) => (this.#stopped = resolve));
    worker.postMessage({ op: 'stop' } satisfies ToConsumerThread);
    // The consumer's own stop waits out at most one blocking read, then drains what is left.
    await Promise.race([stopped, delay(this.settings.consumer.blockMs + 10_000)]);
    await worker.terminate();
  }

  async pending(): Promise<number> {
    const worker = this.#worker;
    if (worker === undefined) return this.#lastPending;
    const id = this.#nextId++;
    const answer = new Promise<number>((resolve) => this.#answers.set(id, resolve));
    worker.postMessage({ op: 'pending', id } satisfies ToConsumerThread);
    const pending = await Promise.race([answer, delay(PENDING_ANSWER_MS).then(() => undefined)]);
    this.#answers.delete(id);
    if (pending !== undefined) this.#lastPending = pending;
    return this.#lastPending;
  }

  /** The running thread's id in the kernel (Linux; null elsewhere or while none runs), once it has started. */
  async tid(): Promise<number | null> {
    return (await this.#ready) ?? null;
  }

  async #background(tid: number | null): Promise<void> {
    try {
      await runAsBackground(tid);
      this.logger.debug('ledger consumer thread at idle scheduling priority');
    } catch (err) {
      this.logger.info({ err: (err as Error).message }, 'ledger consumer thread keeps normal scheduling priority');
    }
  }
}

/** Waits without holding the process open. */
const delay = (ms: number): Promise<void> => wait(ms, undefined, { ref: false });
