import { leaseGrant } from '../budget/lease.js';
import { admits } from '../budget/thresholds.js';
import type { BucketCharge, BucketReservation, BucketState, RenewedReservation, ReserveOutcome, SettleOptions, SpendStore } from '../budget/spend-store.js';

interface Bucket {
  spend: number;
  reserved: number;
  periodEndMs: number;
  /** reservation id -> amount and expiry */
  holds: Map<string, { amount: number; expiresAtMs: number }>;
  /** No hold expires before this (it may have gone since): the holds are swept only from then on. */
  nextExpiryMs: number;
  /** Requests admitted without the store that were charged here (SettleOptions.unreserved). */
  unreserved?: Set<string>;
}

/** The in-process store's data lives and dies with the process: one generation. */
const GENERATION = 'in-process';

/** How long after its period a bucket is kept, for late settles and the admin view. */
const RETAIN_AFTER_PERIOD_MS = 24 * 3_600_000;
/** Buckets long over are looked for at most this often. */
const SWEEP_EVERY_MS = 60_000;

/**
 * The in-process store for a single replica (no REDIS_URL). Same semantics as the Redis store:
 * every method body runs without an await, so on Node's single thread each call is one atomic
 * step, just as each Lua script is in Redis.
 */
export class MemorySpendStore implements SpendStore {
  readonly #buckets = new Map<string, Bucket>();
  /** Until this time no bucket is due to be forgotten (the earliest due may have gone since). */
  #forgetNoneBeforeMs = Number.POSITIVE_INFINITY;
  /** When the buckets were last walked for those long over. */
  #sweptAtMs = Number.NEGATIVE_INFINITY;

  /**
   * `onUsageEvent` receives each settled usage event, in the same step as the counters change;
   * `now` is the gateway's clock, for forgetting periods long over.
   */
  constructor(
    private readonly onUsageEvent: (event: string) => void,
    private readonly now: () => number,
  ) {}

  // Called for every request in embedded mode: plain loops, no intermediate arrays, and the
  // answer at once (admission then needs no await).
  reserve(id: string, wanted: readonly BucketReservation[], nowMs: number, ttlMs: number): ReserveOutcome | Promise<ReserveOutcome> {
    const buckets: (Bucket | undefined)[] = [];
    let unknown: number[] | undefined;
    for (let i = 0; i < wanted.length; i++) {
      const bucket = this.#live(wanted[i]!.key, nowMs);
      buckets.push(bucket);
      if (!bucket) (unknown ??= []).push(i);
    }
    if (unknown) return { kind: 'unknown', unknown };
    const states: BucketState[] = [];
    let refused = -1;
    for (let i = 0; i < wanted.length; i++) {
      const { spend, reserved } = buckets[i]!;
      states.push({ spend, reserved });
      if (refused < 0 && !admits(spend, reserved, wanted[i]!.blockLine)) refused = i;
    }
    if (refused >= 0) return { kind: 'refused', refused, states };
    const granted: number[] = [];
    const expiresAtMs = nowMs + ttlMs;
    for (let i = 0; i < wanted.length; i++) {
      const bucket = buckets[i]!;
      const amount = leaseGrant(wanted[i]!, states[i]!);
      granted.push(amount);
      bucket.reserved += amount;
      bucket.holds.set(id, { amount, expiresAtMs });
      if (expiresAtMs < bucket.nextExpiryMs) bucket.nextExpiryMs = expiresAtMs;
    }
    return { kind: 'admitted', states, granted };
  }

  // Every request's settle, answered at once as `reserve` is.
  settle(id: string, charges: readonly BucketCharge[], usageEvent: string, options: SettleOptions = {}): readonly (number | undefined)[] | Promise<readonly (number | undefined)[]> {
    const { replay, unreserved } = options;
    const after = charges.map(({ key, amount, release }) => {
      const bucket = this.#buckets.get(key);
      if (!bucket) return undefined;
      if (unreserved) {
        if ((replay && unreserved.generation !== GENERATION) || bucket.unreserved?.has(id)) return bucket.spend;
        (bucket.unreserved ??= new Set()).add(id);
      } else if (replay && !bucket.holds.has(id)) return bucket.spend;
      else this.#shrink(bucket, id, release);
      bucket.spend += amount;
      return bucket.spend;
    });
    this.onUsageEvent(usageEvent);
    return after;
  }

  async release(id: string, keys: readonly string[], amounts?: readonly number[]): Promise<void> {
    keys.forEach((key, i) => {
      const bucket = this.#buckets.get(key);
      if (bucket) this.#shrink(bucket, id, amounts?.[i] ?? Number.POSITIVE_INFINITY);
    });
  }

  async renew(reservations: readonly RenewedReservation[], expiresAtMs: number): Promise<void> {
    for (const { id, keys } of reservations) {
      for (const key of keys) {
        const hold = this.#buckets.get(key)?.holds.get(id);
        // Only later: `nextExpiryMs` stays a time before which no hold expires.
        if (hold && hold.expiresAtMs < expiresAtMs) hold.expiresAtMs = expiresAtMs;
      }
    }
  }

  async seed(key: string, spend: number, periodEndMs: number): Promise<void> {
    if (this.#buckets.has(key)) return;
    // Seeding happens once per bucket and period: the moment to forget periods long over.
    const nowMs = this.now();
    if (nowMs > this.#forgetNoneBeforeMs && nowMs - this.#sweptAtMs >= SWEEP_EVERY_MS) this.#forgetOld(nowMs);
    this.#buckets.set(key, { spend, reserved: 0, periodEndMs, holds: new Map(), nextExpiryMs: Number.POSITIVE_INFINITY });
    this.#forgetNoneBeforeMs = Math.min(this.#forgetNoneBeforeMs, periodEndMs + RETAIN_AFTER_PERIOD_MS);
  }

  generation(): string {
    return GENERATION;
  }

  async read(keys: readonly string[]): Promise<readonly (BucketState | undefined)[]> {
    return keys.map((key) => {
      const bucket = this.#buckets.get(key);
      return bucket && { spend: bucket.spend, reserved: bucket.reserved };
    });
  }

  async close(): Promise<void> {
    this.#buckets.clear();
  }

  /**
   * The bucket with expired reservations purged (a crashed request cannot hold budget forever).
   * The holds are walked only once the earliest expiry has come, not on every reserve: with 64
   * requests in flight that walk was most of the store's time.
   */
  #live(key: string, nowMs: number): Bucket | undefined {
    const bucket = this.#buckets.get(key);
    if (!bucket) return undefined;
    if (nowMs > bucket.periodEndMs + RETAIN_AFTER_PERIOD_MS) {
      this.#buckets.delete(key);
      return undefined;
    }
    if (nowMs >= bucket.nextExpiryMs) {
      let next = Number.POSITIVE_INFINITY;
      for (const [id, hold] of bucket.holds) {
        if (hold.expiresAtMs <= nowMs) this.#shrink(bucket, id, hold.amount);
        else if (hold.expiresAtMs < next) next = hold.expiresAtMs;
      }
      bucket.nextExpiryMs = next;
    }
    return bucket;
  }

  /**
   * Drops the buckets whose period ended over a day ago. A walk over every bucket, so it runs
   * only once one may be due, and at most once a minute: walked on every seed, as it was, 10,000
   * new tenants' first requests cost 50 million steps.
   */
  #forgetOld(nowMs: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const [key, bucket] of this.#buckets) {
      const forgetAfterMs = bucket.periodEndMs + RETAIN_AFTER_PERIOD_MS;
      if (nowMs > forgetAfterMs) this.#buckets.delete(key);
      else if (forgetAfterMs < next) next = forgetAfterMs;
    }
    this.#forgetNoneBeforeMs = next;
    this.#sweptAtMs = nowMs;
  }

  /** Returns up to `by` of a reservation; one that reaches zero is gone. */
  #shrink(bucket: Bucket, id: string, by: number): void {
    const hold = bucket.holds.get(id);
    if (!hold) return;
    const take = Math.min(hold.amount, by);
    bucket.reserved -= take;
    hold.amount -= take;
    if (hold.amount <= 0) bucket.holds.delete(id);
  }
}
