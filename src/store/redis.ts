import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type {
  BucketCharge,
  BucketReservation,
  BucketState,
  LateChargeOutcome,
  RenewedReservation,
  ReserveOutcome,
  RestoredReservation,
  SettleOptions,
  SpendStore,
} from '../budget/spend-store.js';
import type { UsageStreams } from '../ledger/usage-stream.js';
import { PairMap } from '../pair-map.js';
import { GENERATION, LATE_CHARGE, RELEASE, RENEW, RESERVE, RESTORE, SEED, SETTLE } from './lua.js';

/** Settles in one script at most; a bigger batch leaves at once. */
const MAX_SETTLES_PER_SCRIPT = 256;
/**
 * How long a settle waits for others to share its script. At one request at a time a script per
 * settle (a Redis write, a reply to parse, the script's own overhead) was about a quarter of the
 * gateway's CPU; 2 ms gathers several, and a reservation outlives its request by no more.
 */
const SETTLE_LINGER_MS = 2;

/** Where Redis keeps the name of the data it holds (see GENERATION in lua.ts). */
const GENERATION_KEY = 'generation';
/**
 * How long after Redis came back empty every replica has reconnected: each tries again every
 * 0.2 s more, up to every 2 s (REQUEST_PATH_REDIS), and a connection opens in milliseconds.
 * Replicas that reconnected admit nothing until then (`onDataLost`), so those still away can put
 * back what their requests in flight hold first.
 */
const RECONNECTED_WITHIN_MS = 3_000;

/** How long after its period a bucket is kept, for late settles and the admin view. */
const RETAIN_AFTER_PERIOD_MS = 24 * 3_600_000;

/** Scripts defined without a fixed key count take it as their first argument. */
type ScriptCall = (...numKeysThenArgs: (string | number)[]) => Promise<unknown>;
type Scripts = Record<'bgReserve' | 'bgSettle' | 'bgRelease' | 'bgSeed' | 'bgGeneration' | 'bgRestore' | 'bgLateCharge' | 'bgRenew', ScriptCall>;

export interface RedisSpendStoreOptions {
  /** Prefix of every key, so several deployments (or test runs) can share one Redis. */
  readonly prefix: string;
  /** The stream the settle script appends usage events to (the ledger consumer reads it), and their count. */
  readonly usage: Pick<UsageStreams, 'stream' | 'count'>;
  /** How long a settle waits for others to go to Redis in the same script (default 2 ms). */
  readonly settleLingerMs?: number;
}

/** A settle waiting to go to Redis with the others of its batch. */
interface PendingSettle {
  readonly id: string;
  readonly charges: readonly BucketCharge[];
  readonly usageEvent: string;
  /** The settle script's mode for it (see SETTLE in lua.ts): '0', '1', 'u' or 'u:<generation>'. */
  readonly mode: string;
  resolve(after: readonly (number | undefined)[]): void;
  reject(err: unknown): void;
}

/**
 * The shared store for a fleet of replicas: every operation is one Lua script, so reserve and
 * settle are atomic across replicas (see lua.ts for the data layout). ioredis pipelines
 * concurrent reserves on one connection automatically; settles gather into one script of ours
 * (`settle`), sent as it is.
 */
export class RedisSpendStore implements SpendStore {
  readonly #scripts: Scripts;
  #settles: PendingSettle[] = [];
  #settleTimer: NodeJS.Timeout | undefined;
  readonly #lingerMs: number;
  #generation: string | undefined;
  readonly #generationKey: string;
  readonly #dataLost: ((othersBackByMs: number) => void)[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly options: RedisSpendStoreOptions,
  ) {
    redis.defineCommand('bgReserve', { lua: RESERVE });
    redis.defineCommand('bgSettle', { lua: SETTLE });
    redis.defineCommand('bgRelease', { lua: RELEASE });
    redis.defineCommand('bgSeed', { lua: SEED, numberOfKeys: 1 });
    redis.defineCommand('bgGeneration', { lua: GENERATION, numberOfKeys: 1 });
    redis.defineCommand('bgRestore', { lua: RESTORE });
    redis.defineCommand('bgLateCharge', { lua: LATE_CHARGE, numberOfKeys: 1 });
    redis.defineCommand('bgRenew', { lua: RENEW, numberOfKeys: 0 });
    // A settle script carries a whole batch already: it goes out at once, past ioredis'
    // auto-pipeline, whose Pipeline for a command alone in its tick cost 30-60 µs of CPU per
    // script (measured); reserves and releases of one tick still share a write through it.
    const ignored = redis.options.autoPipeliningIgnoredCommands ?? [];
    if (!ignored.includes('bgSettle')) redis.options.autoPipeliningIgnoredCommands = [...ignored, 'bgSettle'];
    this.#scripts = redis as unknown as Scripts;
    this.#lingerMs = options.settleLingerMs ?? SETTLE_LINGER_MS;
    this.#generationKey = this.#key(GENERATION_KEY);
    // Read on every (re)connection: a Redis that came back empty names its data anew.
    redis.on('ready', () => this.#readGeneration());
    if (redis.status === 'ready') this.#readGeneration();
  }

  generation(): string | undefined {
    return this.#generation;
  }

  /**
   * Called when Redis is found holding other data than before (it came back empty), with when
   * (epoch ms, this process's clock) every replica will have reconnected too.
   */
  onDataLost(listener: (othersBackByMs: number) => void): void {
    this.#dataLost.push(listener);
  }

  async renew(reservations: readonly RenewedReservation[], expiresAtMs: number): Promise<void> {
    const args: (string | number)[] = [expiresAtMs];
    for (const { id, keys } of reservations) for (const key of keys) args.push(this.#key(key), id);
    if (args.length > 1) await this.#scripts.bgRenew(...args);
  }

  async restore(id: string, buckets: readonly RestoredReservation[], nowMs: number, ttlMs: number): Promise<void> {
    const args: (string | number)[] = buckets.map((b) => this.#key(b.key));
    args.push(id, nowMs, ttlMs);
    for (const b of buckets) args.push(b.amount, b.periodEndMs + RETAIN_AFTER_PERIOD_MS);
    await this.#scripts.bgRestore(buckets.length, ...args);
  }

  async reserve(id: string, buckets: readonly BucketReservation[], nowMs: number, ttlMs: number): Promise<ReserveOutcome> {
    const args: (string | number)[] = buckets.map((b) => this.#key(b.key));
    args.push(id, nowMs, ttlMs);
    for (const b of buckets) args.push(b.blockLine, b.amount, b.wanted ?? b.amount, b.periodEndMs + RETAIN_AFTER_PERIOD_MS);
    let reply: number[];
    try {
      reply = (await this.#scripts.bgReserve(buckets.length, ...args)) as number[];
    } catch (err) {
      // A reserve whose answer timed out may still run once Redis gets to it, holding budget for
      // nobody (the request goes on without the store, or is refused) until the reservation's TTL:
      // a release queued behind it on the same connection takes it back.
      this.#scripts.bgRelease(buckets.length, ...args.slice(0, buckets.length), id).catch(() => {});
      throw err;
    }
    switch (reply[0]) {
      case 0:
        return { kind: 'unknown', unknown: reply.slice(1) };
      case 1:
        return { kind: 'refused', refused: reply[1]!, states: pairs(reply, 2) };
      default: {
        const states: BucketState[] = [];
        const granted: number[] = [];
        for (let i = 1; i < reply.length; i += 3) {
          states.push({ spend: reply[i]!, reserved: reply[i + 1]! });
          granted.push(reply[i + 2]!);
        }
        return { kind: 'admitted', states, granted };
      }
    }
  }

  /**
   * Settles gather for `settleLingerMs` and go to Redis together, as one script: the answer to a
   * client never waits for its settle, and the completions of those milliseconds cost one script
   * run instead of one each. Until then each request's reservation stays in `reserved`, so the
   * wait never lets another request past the block line.
   */
  settle(id: string, charges: readonly BucketCharge[], usageEvent: string, options: SettleOptions = {}): Promise<readonly (number | undefined)[]> {
    return new Promise((resolve, reject) => {
      if (this.#settles.length === 0) this.#settleTimer = setTimeout(() => this.#flushSettles(), this.#lingerMs);
      this.#settles.push({ id, charges, usageEvent, mode: settleMode(options), resolve, reject });
      // One script holds Redis while it runs: keep each batch short.
      if (this.#settles.length >= MAX_SETTLES_PER_SCRIPT) this.#flushSettles();
    });
  }

  #flushSettles(): void {
    clearTimeout(this.#settleTimer);
    this.#settleTimer = undefined;
    const batch = this.#settles.splice(0);
    if (batch.length === 0) return;
    const { args, slots } = settleScript(batch, (key) => this.#key(key));
    this.#scripts.bgSettle(3, this.options.usage.stream, this.options.usage.count, this.#generationKey, ...args).then(
      (reply) => {
        const groups = args[0] as number;
        const out = reply as number[];
        // Groups not charged (after the spends: their numbers, counted from 1), mostly none.
        const skipped = out.length > groups ? new Set(out.slice(groups).map((g) => g - 1)) : undefined;
        // Each settle's spend per bucket: the bucket's spend before the batch plus the charges
        // of the batch up to its own, in order, as one settle at a time would have found it.
        const running = new Map<string, number>();
        let at = 0;
        for (const s of batch) {
          s.resolve(s.charges.map((c) => {
            const group = slots[at++]!;
            const before = out[group]!;
            if (before < 0) return undefined;
            const after = (running.get(c.key) ?? before) + (skipped?.has(group) ? 0 : c.amount);
            running.set(c.key, after);
            return after;
          }));
        }
      },
      (err: unknown) => {
        for (const s of batch) s.reject(err);
      },
    );
  }

  async release(id: string, keys: readonly string[], amounts?: readonly number[]): Promise<void> {
    // Settles still gathering go first: a lease's rest released ahead of its last request's
    // settle would drop that request's part from `reserved` before its cost reached `spend`, and
    // for that moment another request could be admitted past the line.
    this.#flushSettles();
    await this.#scripts.bgRelease(keys.length, ...keys.map((k) => this.#key(k)), id, ...(amounts ?? []));
  }

  async seed(key: string, spend: number, periodEndMs: number, snapshot = ''): Promise<void> {
    await this.#scripts.bgSeed(this.#key(key), spend, periodEndMs + RETAIN_AFTER_PERIOD_MS, snapshot);
  }

  async seededFrom(key: string): Promise<string | undefined> {
    return (await this.redis.hget(this.#key(key), 'seed')) || undefined;
  }

  async lateCharge(key: string, requestId: string, amount: number, snapshot: string): Promise<LateChargeOutcome> {
    const reply = Number(await this.#scripts.bgLateCharge(this.#key(key), requestId, amount, snapshot));
    return reply === 1 ? 'charged' : reply === 0 ? 'charged-before' : 'seeded-anew';
  }

  async unwrittenSinceMs(): Promise<number | undefined> {
    // The consumer deletes each entry once it is in the ledger: the first one left is the oldest unwritten.
    const [entry] = await this.redis.xrange(this.options.usage.stream, '-', '+', 'COUNT', 1);
    return entry ? Number(entry[0].split('-')[0]) : undefined;
  }

  async read(keys: readonly string[]): Promise<readonly (BucketState | undefined)[]> {
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.hmget(this.#key(key), 'spend', 'reserved');
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([err, value]) => {
      if (err) throw err;
      const [spend, reserved] = value as (string | null)[];
      return spend === null || spend === undefined ? undefined : { spend: Number(spend), reserved: Number(reserved ?? 0) };
    });
  }

  async close(): Promise<void> {
    this.#flushSettles();
    // quit() lets queued replies arrive; with Redis away there is nothing to wait for.
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  #key(key: string): string {
    return this.options.prefix + key;
  }

  #readGeneration(): void {
    this.#scripts.bgGeneration(this.#generationKey, randomUUID()).then(
      (reply) => {
        const [name, redisNowMs] = reply as [string, number];
        const before = this.#generation;
        this.#generation = name;
        if (before === undefined || before === name) return;
        // Made when the first replica reconnected (a name from before this version says not when: now).
        const madeAtMs = Number(name.split('@')[1] ?? redisNowMs);
        const othersBackByMs = Date.now() + Math.max(0, madeAtMs + RECONNECTED_WITHIN_MS - redisNowMs);
        for (const listener of this.#dataLost) listener(othersBackByMs);
      },
      () => {
        // Read again on the next connection.
      },
    );
  }
}

function settleMode(options: SettleOptions): string {
  if (options.unreserved) return options.replay ? `u:${options.unreserved.generation ?? ''}` : 'u';
  return options.replay ? '1' : '0';
}

/**
 * The settle script's arguments for a batch (see SETTLE in lua.ts): the charges summed per bucket
 * and reservation, each replay a group of its own in its place, then every usage event; and, per
 * settle and charge in order, the index of its group.
 */
export function settleScript(
  batch: readonly Pick<PendingSettle, 'id' | 'charges' | 'usageEvent' | 'mode'>[],
  key: (bucket: string) => string,
): { args: (string | number)[]; slots: number[] } {
  const groups: { key: string; id: string; mode: string; amount: number; release: number; index: number }[] = [];
  const slots: number[] = [];
  // Settles between two replays share groups, found by reservation id and bucket; a replay (or a
  // request admitted without the store) starts a stretch of its own, and so does the settle after it.
  const stretch = new PairMap<(typeof groups)[number]>();
  for (const s of batch) {
    const apart = s.mode !== '0';
    if (apart) stretch.clear();
    for (const c of s.charges) {
      let group = stretch.get(s.id, c.key);
      if (group === undefined) {
        group = { key: key(c.key), id: s.id, mode: s.mode, amount: 0, release: 0, index: groups.length };
        groups.push(group);
        stretch.set(s.id, c.key, group);
      }
      group.amount += c.amount;
      group.release += c.release;
      slots.push(group.index);
    }
    if (apart) stretch.clear();
  }
  const args: (string | number)[] = [groups.length];
  for (const g of groups) args.push(g.key, g.id, g.mode, g.amount, g.release);
  for (const s of batch) args.push('e', s.usageEvent);
  return { args, slots };
}

function pairs(reply: number[], from: number): BucketState[] {
  const states: BucketState[] = [];
  for (let i = from; i < reply.length; i += 2) states.push({ spend: reply[i]!, reserved: reply[i + 1]! });
  return states;
}
