/**
 * The port through which admission reaches the shared counters. Every budget that applies to a
 * request is a bucket (global, tenant, model, key; USD, tokens, requests), and every operation
 * takes the whole list: a request is admitted only if every bucket admits it, and then it holds
 * a reservation in all of them, in one atomic step across replicas. Designing for the list from
 * the start keeps "all-or-nothing" true when more scopes arrive.
 *
 * Amounts are integers in the bucket's unit (micro-dollars, tokens or requests).
 */

export interface BucketReservation {
  /** The bucket's key, naming scope, unit and period, e.g. `tenant:acme:1767225600000:usd`. */
  readonly key: string;
  /** Admit only while spend + reserved is below this line. */
  readonly blockLine: number;
  /** What this request reserves in the bucket (its estimate). */
  readonly amount: number;
  /**
   * A headroom lease: reserve up to this much (>= amount) for requests to come, but only while it
   * is at most a quarter of what is left below the line; otherwise just `amount`. Near the line a
   * lease is one request, which is what keeps the hard cap exact.
   */
  readonly wanted?: number;
  /** The end of the bucket's period (epoch ms): its counters may be dropped a while after. */
  readonly periodEndMs: number;
}

export interface BucketState {
  readonly spend: number;
  readonly reserved: number;
}

export type ReserveOutcome =
  /** Reserved in every bucket (`granted` each); states are as of admission, before this reservation. */
  | { readonly kind: 'admitted'; readonly states: readonly BucketState[]; readonly granted: readonly number[] }
  /** Reserved nowhere: the bucket at `refused` (an index into the list) is at its line. */
  | { readonly kind: 'refused'; readonly refused: number; readonly states: readonly BucketState[] }
  /**
   * The store does not know these buckets (a new period, a restarted process, a Redis that came
   * back empty). The caller seeds them from the ledger and asks again; nothing was reserved.
   */
  | { readonly kind: 'unknown'; readonly unknown: readonly number[] };

export interface BucketCharge {
  readonly key: string;
  /** The actual cost, added to spend. */
  readonly amount: number;
  /** How much of the reservation this request held, returned now (a lease shrinks by it). */
  readonly release: number;
}

export interface SettleOptions {
  /**
   * A settle retried after the store could not be reached, whose usage event already went
   * straight to the ledger: charge only the buckets that still hold the reservation. A bucket that
   * lost it (the store came back empty and was rebuilt from that very ledger) already counts it.
   */
  readonly replay?: boolean;
  /**
   * The request was admitted without the store (fail-open), so it holds no reservation to tell
   * whether its charge went in: it is charged at most once per reservation id (a settle whose
   * answer was lost may have run all the same), and a replay only while the store still holds the
   * data of the `generation` it was first sent in (one that came back empty was rebuilt from the
   * ledger, which has that usage already).
   */
  readonly unreserved?: { readonly generation: string | undefined };
}

export type LateChargeOutcome = 'charged' | 'charged-before' | 'seeded-anew';

/** A reservation of requests still running, and the buckets it is held in. */
export interface RenewedReservation {
  readonly id: string;
  readonly keys: readonly string[];
}

/** A reservation of requests still in flight, put back into a store that lost its data. */
export interface RestoredReservation {
  readonly key: string;
  readonly amount: number;
  readonly periodEndMs: number;
}

export interface SpendStore {
  /** The in-process store answers at once (no I/O), the Redis store with a promise. */
  reserve(reservationId: string, buckets: readonly BucketReservation[], nowMs: number, ttlMs: number): ReserveOutcome | Promise<ReserveOutcome>;
  /**
   * Replaces the reservation with the actual charge in every bucket and hands the usage event to
   * the ledger in the same atomic step, so a counted cost is never missing from the ledger.
   * Buckets the store no longer knows are left alone (their seed comes from the ledger).
   * Returns each bucket's spend after the charge (as it stands where the options let nothing be
   * charged; undefined where the bucket is unknown): at once from the in-process store, as `reserve`.
   */
  settle(
    reservationId: string,
    charges: readonly BucketCharge[],
    usageEvent: string,
    options?: SettleOptions,
  ): readonly (number | undefined)[] | Promise<readonly (number | undefined)[]>;
  /**
   * Returns `amounts[i]` of the reservation in bucket `keys[i]` (a failed request of a lease), or
   * all of it when `amounts` is undefined (a retired lease, a single request); idempotent when
   * dropping.
   */
  release(reservationId: string, keys: readonly string[], amounts?: readonly number[]): Promise<void>;
  /**
   * Makes a bucket known with the spend the ledger holds for its period, unless it is known
   * already; `snapshot` is the one the ledger was read in (`ledgerSeed`), for `lateCharge`.
   */
  seed(key: string, spend: number, periodEndMs: number, snapshot?: string): Promise<void>;
  /**
   * A shared store can lose a bucket under a request in flight, whose settle then charges nothing
   * (`settle` answers undefined) while its usage goes on to the ledger: the bucket's seed holds it
   * only if it reached the ledger first. The snapshot the bucket was seeded from tells (undefined:
   * unknown bucket, or seeded without one), and `lateCharge` adds the charge where it does not,
   * once per request and only while the bucket is the one seeded from `snapshot`.
   */
  seededFrom?(key: string): Promise<string | undefined>;
  lateCharge?(key: string, requestId: string, amount: number, snapshot: string): Promise<LateChargeOutcome>;
  /**
   * What names the data the store holds now: a Redis that came back empty has another. Undefined
   * until the store has been reached.
   */
  generation(): string | undefined;
  /**
   * A shared store that can lose its data while this replica runs (a Redis restarted without
   * persistence) tells `listener` when it finds that it has, so the replica can put back what its
   * requests in flight hold (`restore`): a bucket rebuilt from the ledger knows nothing of them.
   * `othersBackByMs` (epoch ms) is when every other replica will have found it too, and put back
   * what its own requests hold. The in-process store loses its data only with the process, and
   * has neither.
   */
  onDataLost?(listener: (othersBackByMs: number) => void): void;
  /**
   * Moves the expiry of these reservations, where buckets still hold them, to `expiresAtMs` (never
   * earlier): requests still running keep what they hold past the TTL, which is meant for
   * replicas that died holding a reservation.
   */
  renew(reservations: readonly RenewedReservation[], expiresAtMs: number): Promise<void>;
  /** Puts back a reservation in the buckets given (those rebuilt already), once per id. */
  restore?(reservationId: string, buckets: readonly RestoredReservation[], nowMs: number, ttlMs: number): Promise<void>;
  /**
   * When the oldest usage event the store still holds for the ledger was added (epoch ms, the
   * store's clock), undefined when none waits: a store that can lose its data (Redis) says, so a
   * replica knows how much of its recent usage it may have to write itself.
   */
  unwrittenSinceMs?(): Promise<number | undefined>;
  /** Current states, undefined for unknown buckets. */
  read(keys: readonly string[]): Promise<readonly (BucketState | undefined)[]>;
  close(): Promise<void>;
}

