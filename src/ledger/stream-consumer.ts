import { setTimeout as wait } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { ACKNOWLEDGE } from '../store/lua.js';
import type { LedgerPipeline, LedgerSink } from './usage-event.js';
import { eventsOf, type UsageStreams } from './usage-stream.js';

export interface StreamConsumerOptions {
  readonly streams: UsageStreams;
  readonly group: string;
  /** This replica's name in the consumer group. */
  readonly consumer: string;
  /**
   * Usage events a write aims at. An entry holds the events of one settle script (a few at one
   * request at a time, dozens under load), so the entries per read follow the events per entry
   * of the last read.
   */
  readonly batchEvents: number;
  readonly blockMs: number;
  /** Entries another consumer has held this long are taken over (that replica died). */
  readonly claimIdleMs: number;
  /**
   * After a write short of `batchEvents`, the longest usage is left to gather before the next
   * (it goes as soon as `batchEvents` wait): rows reach the database in batches, not a few at a
   * time, which costs PostgreSQL and Redis far less per row (bench/README.md).
   */
  readonly lingerMs: number;
}

/** While usage gathers, how often the count of waiting events is read. */
const GATHER_POLL_MS = 100;
/** The most entries one read takes from a stream, whatever the events per entry. */
const MAX_ENTRIES_PER_READ = 1_024;

type Entry = [id: string, fields: string[]];
/** Entries read from one stream. */
type Read = { readonly stream: string; readonly entries: Entry[] };

/**
 * The ledger path with Redis: the settle script appended each batch's usage events to a stream in
 * the same atomic step that charged them; a consumer group writes them to the database
 * (idempotent on the request id), then acknowledges and deletes them. Until then they stay in
 * Redis: a database outage only delays them, and entries a dead replica had read are claimed by
 * another. The stream of earlier versions (one event per entry) is read too once it exists.
 */
export class LedgerStreamConsumer implements LedgerPipeline {
  #running = false;
  #loop: Promise<void> | undefined;
  #failures = 0;
  #lastPending = 0;
  /** Entries this consumer read but did not acknowledge may exist (at start, after a failure). */
  #ownPending = true;
  /** The streams read: the current one, and the legacy one once it is found to exist. */
  #streams: string[];
  /** Usage events per entry in the last read, which sizes the next (a guess until then). */
  #eventsPerEntry = 8;

  constructor(
    /** A dedicated connection: XREADGROUP BLOCK holds it while waiting. */
    private readonly redis: Redis,
    private readonly sink: LedgerSink,
    private readonly logger: Logger,
    private readonly options: StreamConsumerOptions,
  ) {
    this.#streams = [options.streams.stream];
    redis.defineCommand('bgAcknowledge', { lua: ACKNOWLEDGE, numberOfKeys: 2 });
  }

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
      this.#lastPending = await this.#count().catch(() => this.#lastPending);
    }
    this.redis.disconnect();
  }

  /** Events not yet written; quick even while Redis is away (the last count then: a scrape must not hang). */
  async pending(): Promise<number> {
    if (!this.#running || this.redis.status !== 'ready') return this.#lastPending;
    const counted = await Promise.race([this.#count(), delay(500).then(() => undefined)]);
    if (counted !== undefined) this.#lastPending = counted;
    return this.#lastPending;
  }

  async #count(): Promise<number> {
    const { count, legacy } = this.options.streams;
    const [[, events], [, legacyEvents]] = (await this.redis.multi().get(count).xlen(legacy).exec()) as [[unknown, string | null], [unknown, number]];
    return Math.max(0, Number(events ?? 0)) + legacyEvents;
  }

  async #run(): Promise<void> {
    let grouped = false;
    let lastClaimMs = 0;
    while (this.#running) {
      try {
        if (!grouped) grouped = (await this.#ensureGroups(), true);
        if (Date.now() - lastClaimMs >= this.options.claimIdleMs / 3) {
          await this.#findLegacy();
          await this.#claimAbandoned();
          lastClaimMs = Date.now();
        }
        const reads = await this.#read(this.options.blockMs);
        const events = reads.length > 0 ? await this.#write(reads) : 0;
        this.#recovered();
        // A short read means the streams are nearly empty: let usage gather instead of paying a
        // database transaction (and the Redis commands) for every few events. After an empty one
        // (it blocked for blockMs) the next read waits for the first event and takes it at once.
        if (events > 0 && events < this.options.batchEvents && this.#running) await this.#gather();
      } catch (err) {
        // A Redis that came back empty has lost the groups with the streams: make them again.
        if (String((err as Error).message).includes('NOGROUP')) grouped = false;
        await this.#failed(err);
      }
    }
  }

  /** Waits until about `batchEvents` events wait to be read, `lingerMs` has passed, or the consumer stops. */
  async #gather(): Promise<void> {
    const until = Date.now() + this.options.lingerMs;
    for (let left = this.options.lingerMs; left > 0 && this.#running; left = until - Date.now()) {
      await delay(Math.min(GATHER_POLL_MS, left));
      if (this.#running && Date.now() < until && (await this.#unread()) >= this.options.batchEvents) return;
    }
  }

  /**
   * About how many events of the current stream no consumer has read yet: its entries (an entry is
   * deleted when it is acknowledged) less those read and not yet acknowledged, at the stream's
   * events per entry. Not the count of waiting events: with several replicas, that also holds the
   * batches other consumers are writing, which this one could not read.
   */
  async #unread(): Promise<number> {
    const { stream, count } = this.options.streams;
    const replies = (await this.redis.multi().get(count).xlen(stream).xpending(stream, this.options.group).exec()) as [Error | null, unknown][];
    // NOGROUP (a Redis that came back empty) goes to the loop, which makes the group again.
    for (const [failed] of replies) if (failed) throw failed;
    const [[, events], [, entries], [, pending]] = replies as [[null, string | null], [null, number], [null, [number, ...unknown[]]]];
    return entries === 0 ? 0 : (Math.max(0, entries - pending[0]) * Number(events ?? 0)) / entries;
  }

  /** Entries to ask each stream for: about `batchEvents` events at the events per entry lately read. */
  #entriesPerRead(): number {
    return Math.min(MAX_ENTRIES_PER_READ, Math.max(1, Math.ceil(this.options.batchEvents / this.#eventsPerEntry)));
  }

  async #drain(): Promise<void> {
    for (let reads = await this.#read(0); reads.length > 0; reads = await this.#read(0)) await this.#write(reads);
  }

  async #ensureGroups(): Promise<void> {
    this.#streams = [this.options.streams.stream];
    await this.#createGroup(this.options.streams.stream, true);
    await this.#findLegacy();
  }

  /** Reads the legacy stream too once a replica of an earlier version has made it. */
  async #findLegacy(): Promise<void> {
    const { legacy } = this.options.streams;
    if (this.#streams.includes(legacy) || (await this.redis.exists(legacy)) === 0) return;
    await this.#createGroup(legacy, false);
    this.#streams = [...this.#streams, legacy];
    this.#ownPending = true;
  }

  async #createGroup(stream: string, make: boolean): Promise<void> {
    try {
      await (make ? this.redis.xgroup('CREATE', stream, this.options.group, '0', 'MKSTREAM') : this.redis.xgroup('CREATE', stream, this.options.group, '0'));
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  /** New entries; first this consumer's own unacknowledged ones (after a start or a failed write), then fresh ones. */
  async #read(blockMs: number): Promise<Read[]> {
    const { group, consumer } = this.options;
    const batch = this.#entriesPerRead();
    const streams = this.#streams;
    if (this.#ownPending) {
      const own = readsOf(await this.redis.xreadgroup('GROUP', group, consumer, 'COUNT', batch, 'STREAMS', ...streams, ...streams.map(() => '0')));
      if (own.length > 0) return own;
      this.#ownPending = false;
    }
    const fresh = streams.map(() => '>');
    return readsOf(
      blockMs > 0
        ? await this.redis.xreadgroup('GROUP', group, consumer, 'COUNT', batch, 'BLOCK', blockMs, 'STREAMS', ...streams, ...fresh)
        : await this.redis.xreadgroup('GROUP', group, consumer, 'COUNT', batch, 'STREAMS', ...streams, ...fresh),
    );
  }

  async #claimAbandoned(): Promise<void> {
    const { group, consumer, claimIdleMs } = this.options;
    for (const stream of this.#streams) {
      const [, claimed] = (await this.redis.xautoclaim(stream, group, consumer, claimIdleMs, '0-0', 'COUNT', this.#entriesPerRead())) as [string, Entry[]];
      const entries = claimed.filter(([, fields]) => fields !== null);
      if (entries.length > 0) {
        this.logger.warn({ entries: entries.length }, 'ledger: took over usage events a stopped replica had read');
        await this.#write([{ stream, entries }]);
      }
    }
  }

  /** Writes the entries' events to the database, then acknowledges the entries; resolves with the events' count. */
  async #write(reads: readonly Read[]): Promise<number> {
    const events = reads.flatMap(({ entries }) => entries.flatMap(([, fields]) => eventsOf(fields)));
    const entries = reads.reduce((n, { entries }) => n + entries.length, 0);
    this.#eventsPerEntry = Math.max(1, events.length / entries);
    await this.sink(events);
    const { streams, group } = this.options;
    for (const { stream, entries } of reads) {
      if (stream === streams.stream) {
        const acknowledge = (this.redis as unknown as { bgAcknowledge: (...args: (string | number)[]) => Promise<number> }).bgAcknowledge;
        await acknowledge.call(this.redis, stream, streams.count, group, ...entries.flatMap(([id, fields]) => [id, fields.length >> 1]));
      } else {
        const ids = entries.map(([id]) => id);
        await this.redis.multi().xack(stream, group, ...ids).xdel(stream, ...ids).exec();
      }
    }
    return events.length;
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

/** XREADGROUP's answer: per stream with entries, those whose fields are still there. */
function readsOf(reply: unknown): Read[] {
  if (!Array.isArray(reply)) return [];
  const reads: Read[] = [];
  for (const [stream, all] of reply as [string, Entry[]][]) {
    const entries = all.filter(([, fields]) => fields !== null);
    if (entries.length > 0) reads.push({ stream, entries });
  }
  return reads;
}
