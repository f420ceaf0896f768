import { setTimeout as wait } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { LedgerPipeline, LedgerSink } from './usage-event.js';

export interface StreamConsumerOptions {
  readonly stream: string;
  readonly group: string;
  /** This replica's name in the consumer group. */
  readonly consumer: string;
  readonly batch: number;
  readonly blockMs: number;
  /** Entries another consumer has held this long are taken over (that replica died). */
  readonly claimIdleMs: number;
  /** Pause after a short batch, so rows reach the database in batches, not one by one. */
  readonly lingerMs: number;
}

type Entry = [id: string, fields: string[]];

/**
 * The ledger path with Redis: the settle script appended each usage event to a stream in the
 * same atomic step that charged it; a consumer group writes batches to the database (idempotent
 * on the request id), then acknowledges and deletes them. Until then they stay in Redis: a
 * database outage only delays them, and entries a dead replica had read are claimed by another.
 */
export class LedgerStreamConsumer implements LedgerPipeline {
  #running = false;
  #loop: Promise<void> | undefined;
  #failures = 0;
  #lastPending = 0;
  /** Entries this consumer read but did not acknowledge may exist (at start, after a failure). */
  #ownPending = true;

  constructor(
    /** A dedicated connection: XREADGROUP BLOCK holds it while waiting. */
    private readonly redis: Redis,
    private readonly sink: LedgerSink,
    private readonly logger: Logger,
    private readonly options: StreamConsumerOptions,
  ) {}

  start(): void {
    this.#running = true;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    // The loop ends after its current blocking read, unless Redis is away and it never returns.
    await Promise.race([this.#loop, delay(this.options.blockMs + 500)]);
    // One last pass without blocking, for what settled during shutdown.
    if (this.redis.status === 'ready') {
      await this.#drain().catch(() => undefined);
      this.#lastPending = await this.redis.xlen(this.options.stream).catch(() => this.#lastPending);
    }
    this.redis.disconnect();
  }

  /** Entries not yet written; quick even while Redis is away (the last count then: a scrape must not hang). */
  async pending(): Promise<number> {
    if (!this.#running || this.redis.status !== 'ready') return this.#lastPending;
    const counted = await Promise.race([this.redis.xlen(this.options.stream), delay(500).then(() => undefined)]);
    if (counted !== undefined) this.#lastPending = counted;
    return this.#lastPending;
  }

  async #run(): Promise<void> {
    let grouped = false;
    let lastClaimMs = 0;
    while (this.#running) {
      try {
        if (!grouped) grouped = (await this.#ensureGroup(), true);
        if (Date.now() - lastClaimMs >= this.options.claimIdleMs / 3) {
          await this.#claimAbandoned();
          lastClaimMs = Date.now();
        }
        const entries = await this.#read(this.options.blockMs);
        if (entries.length > 0) await this.#write(entries);
        this.#recovered();
        // A short batch means the stream is nearly empty: let usage gather instead of paying a
        // database round trip (and five Redis commands) for every single event.
        if (entries.length < this.options.batch && this.#running) await delay(this.options.lingerMs);
      } catch (err) {
        // A Redis that came back empty has lost the group with the stream: make it again.
        if (String((err as Error).message).includes('NOGROUP')) grouped = false;
        await this.#failed(err);
      }
    }
  }

  async #drain(): Promise<void> {
    for (let entries = await this.#read(0); entries.length > 0; entries = await this.#read(0)) await this.#write(entries);
  }

  async #ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.options.stream, this.options.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  /** New entries; first this consumer's own unacknowledged ones (after a start or a failed write), then fresh ones. */
  async #read(blockMs: number): Promise<Entry[]> {
    const { stream, group, consumer, batch } = this.options;
    if (this.#ownPending) {
      const own = entriesOf(await this.redis.xreadgroup('GROUP', group, consumer, 'COUNT', batch, 'STREAMS', stream, '0'));
      if (own.length > 0) return own;
      this.#ownPending = false;
    }
    const fresh =
      blockMs > 0
        ? await this.redis.xreadgroup('GROUP', group, consumer, 'COUNT', batch, 'BLOCK', blockMs, 'STREAMS', stream, '>')
        : await this.redis.xreadgroup('GROUP', group, consumer, 'COUNT', batch, 'STREAMS', stream, '>');
    return entriesOf(fresh);
  }

  async #claimAbandoned(): Promise<void> {
    const { stream, group, consumer, claimIdleMs, batch } = this.options;
    const [, claimed] = (await this.redis.xautoclaim(stream, group, consumer, claimIdleMs, '0-0', 'COUNT', batch)) as [string, Entry[]];
    if (claimed.length > 0) {
      this.logger.warn({ entries: claimed.length }, 'ledger: took over usage events a stopped replica had read');
      await this.#write(claimed);
    }
  }

  async #write(entries: Entry[]): Promise<void> {
    await this.sink(entries.flatMap(([, fields]) => (fields?.[1] === undefined ? [] : [fields[1]])));
    const ids = entries.map(([id]) => id);
    await this.redis.multi().xack(this.options.stream, this.options.group, ...ids).xdel(this.options.stream, ...ids).exec();
  }

  #recovered(): void {
    if (this.#failures > 0) this.logger.info({ after: this.#failures }, 'ledger writes recovered');
    this.#failures = 0;
  }

  async #failed(err: unknown): Promise<void> {
    this.#failures++;
    this.#ownPending = true;
    if (this.#failures === 1 || this.#failures % 50 === 0) {
      this.logger.error({ err: (err as Error).message }, 'ledger: writing usage events failed; they stay in Redis and are retried');
    }
    await delay(Math.min(5_000, 100 * 2 ** this.#failures));
  }
}

/** Waits without holding the process open. */
const delay = (ms: number): Promise<void> => wait(ms, undefined, { ref: false });

function entriesOf(reply: unknown): Entry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const [[, entries]] = reply as [[string, Entry[]]];
  return entries.filter(([, fields]) => fields !== null);
}
