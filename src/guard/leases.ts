import type { SpendStore } from '../budget/spend-store.js';
import type { OwedReleases } from './owed-releases.js';

/**
 * Headroom leases (DESIGN "What the hot path costs"): far from their block lines, the buckets of
 * a request (its global cap, tenant, model and key budgets, CONTRACT section 11) lend this
 * replica a slice of headroom in one atomic reserve, and the next requests with the same buckets
 * are admitted against the slices without a store round trip. The store sizes each slice (at
 * most a quarter of what its bucket has left) and shrinks it to one request near the line, which
 * keeps the hard cap exact in every bucket; each request's settle returns its part, and a retired
 * lease returns the rest. A lease lives briefly, so unused headroom goes back to the others soon.
 */
export interface Lease {
  readonly id: string;
  /** The buckets and the lines the lease was taken under: a changed budget starts another lease. */
  readonly signature: string;
  readonly keys: readonly string[];
  readonly granted: readonly number[];
  /** Per bucket, the amounts of the requests admitted under it. */
  readonly used: number[];
  /** Requests admitted and not yet settled or released. */
  outstanding: number;
  /** Requests admitted under it in all. */
  admitted: number;
  retired: boolean;
  /** A request's part the store did not take back (it was away): the lease's whole release returns it. */
  unreturned: boolean;
  /** Its whole reservation was given back (or owed): nothing of it is left to send again. */
  restSent: boolean;
  /** Per bucket, spend as of the lease, raised by the settles seen since (for the x-budget-* headers). */
  readonly knownSpends: number[];
  timer: NodeJS.Timeout | undefined;
}

/** The lease identity of a request's buckets: their keys and block lines. */
export function leaseSignature(buckets: readonly { readonly key: string; readonly blockLine: number }[]): string {
  return buckets.map((b) => `${b.key}@${b.blockLine}`).join('|');
}

export interface LeaseSizing {
  /** Requests a lease holds once its buckets are asked again within a lease's lifetime (the first is a single request). */
  readonly requestsPerLease: number;
  /** The most a lease grows to under a steady burst (the store's quarter rule caps it too). */
  readonly maxRequestsPerLease: number;
}

/** Signatures whose lease size is remembered; beyond this the least recently reserved is forgotten. */
const MAX_SIZED = 10_000;

export class LeasePool {
  readonly #current = new Map<string, Lease>();
  /**
   * Requests per lease, per signature reserved lately, and when it was last reserved; in the
   * order of their last reserve, so the first is the one to forget when the map is full.
   */
  readonly #sizes = new Map<string, { size: number; lastMs: number }>();

  constructor(
    private readonly store: SpendStore,
    private readonly lifetimeMs: number,
    private readonly sizing: LeaseSizing = { requestsPerLease: 8, maxRequestsPerLease: 8 },
    /** Where a lease's rest waits to be given back later (OwedReleases): the store did not take it, or must not yet. */
    private readonly owed?: Pick<OwedReleases, 'add' | 'behindSettles'>,
  ) {}

  /** How many requests the next lease for these buckets holds: 1 (no lease) for buckets not reserved lately. */
  requestsFor(signature: string): number {
    return this.#sizes.get(signature)?.size ?? 1;
  }

  /**
   * The size to ask the store for now. Buckets the pool has not reserved for lately start at a
   * single request, which holds no lease at all: a key used once every few seconds (most keys,
   * in a fleet of many tenants) costs one reserve, not a reserve and a release of a lease that
   * expires unused. Asked again within a lease's lifetime they grow, doubling each time up to
   * `requestsPerLease`, and straight to it when other requests are waiting (`contended`: a
   * burst); beyond it a lease grows as bursts use it up (`take`). A lease that expires mostly
   * unused halves the next, down to a single request again.
   */
  reserving(signature: string, nowMs: number, contended = false): number {
    const base = this.sizing.requestsPerLease;
    const known = this.#sizes.get(signature);
    const entry = known ?? { size: 1, lastMs: -Infinity };
    if (entry.size < base && (contended || nowMs - entry.lastMs < this.lifetimeMs)) entry.size = contended ? base : Math.min(base, entry.size * 2);
    entry.lastMs = nowMs;
    // Last reserved now: to the end of the map's order.
    if (known) this.#sizes.delete(signature);
    this.#remember(signature, entry);
    return entry.size;
  }

  /** A slice of the live lease for these buckets, for a request holding `amounts`, if every bucket has room. */
  take(signature: string, amounts: readonly number[]): Lease | undefined {
    const lease = this.#current.get(signature);
    if (!lease) return undefined;
    if (amounts.some((amount, i) => lease.used[i]! + amount > lease.granted[i]!)) {
      this.#resize(signature, 2);
      this.retire(lease);
      return undefined;
    }
    amounts.forEach((amount, i) => (lease.used[i]! += amount));
    lease.outstanding++;
    lease.admitted++;
    return lease;
  }

  /** A reservation the store just granted, its first request (holding `amounts`) admitted. */
  open(id: string, signature: string, keys: readonly string[], granted: readonly number[], amounts: readonly number[], spends: readonly number[]): Lease {
    const lease: Lease = {
      id,
      signature,
      keys,
      granted,
      used: [...amounts],
      outstanding: 1,
      admitted: 1,
      retired: false,
      unreturned: false,
      restSent: false,
      knownSpends: [...spends],
      timer: undefined,
    };
    // A bucket that granted only this request's amount leaves no room for another one.
    if (granted.some((g, i) => g <= amounts[i]!)) {
      lease.retired = true;
      return lease;
    }
    const previous = this.#current.get(signature);
    if (previous) this.retire(previous);
    this.#current.set(signature, lease);
    lease.timer = setTimeout(() => this.#expired(lease), this.lifetimeMs);
    lease.timer.unref();
    return lease;
  }

  /** One of the lease's requests was settled or released (its part already returned). */
  done(lease: Lease): void {
    lease.outstanding--;
    this.#returnRest(lease);
  }

  /**
   * A request's part went back to no bucket (the store was away). Sent again it could return
   * another request's room (a first try may have run although its answer was lost), so it goes
   * back with the lease's whole reservation, once the lease lends no more and its requests are done.
   */
  partNotReturned(lease: Lease): void {
    lease.unreturned = true;
    this.#returnRest(lease);
  }

  noteSpends(lease: Lease, spends: readonly (number | undefined)[]): void {
    spends.forEach((spend, i) => {
      if (spend !== undefined && spend > lease.knownSpends[i]!) lease.knownSpends[i] = spend;
    });
  }

  /**
   * A settle found `key`'s spend at or past its block line: no more requests against its leases.
   * Slices are lent against estimates, so answers that cost more than estimated can use the
   * headroom up while a lease still has slices; each request now goes to the store, which refuses
   * it, as it refuses every request of a replica without a lease.
   */
  lineReached(key: string): void {
    for (const lease of [...this.#current.values()]) if (lease.keys.includes(key)) this.retire(lease);
  }

  /** No more requests under this lease; what its requests did not use goes back. */
  retire(lease: Lease): void {
    if (lease.retired) return;
    lease.retired = true;
    clearTimeout(lease.timer);
    if (this.#current.get(lease.signature) === lease) this.#current.delete(lease.signature);
    this.#returnRest(lease);
  }

  retireAll(): void {
    for (const lease of [...this.#current.values()]) this.retire(lease);
  }

  #expired(lease: Lease): void {
    if (lease.admitted === 1 || lease.used.every((used, i) => used * 4 < lease.granted[i]!)) this.#resize(lease.signature, 0.5);
    this.retire(lease);
  }

  #resize(signature: string, factor: number): void {
    const known = this.#sizes.get(signature);
    // Forgotten meanwhile (10,000 others reserved since): it starts over as a single request.
    if (known) known.size = Math.min(this.sizing.maxRequestsPerLease, Math.max(1, Math.round(known.size * factor)));
  }

  #remember(signature: string, entry: { size: number; lastMs: number }): void {
    if (this.#sizes.size >= MAX_SIZED) this.#sizes.delete(this.#sizes.keys().next().value!);
    this.#sizes.set(signature, entry);
  }

  /** Once retired and quiet, the part no request used (each request returned its own part, or could not). */
  #returnRest(lease: Lease): void {
    if (!lease.retired || lease.outstanding > 0 || lease.restSent) return;
    if (!lease.unreturned && lease.used.every((used, i) => used >= lease.granted[i]!)) return;
    lease.restSent = true;
    // Settles owed to the store (it was away) are replayed only into buckets that still hold
    // their reservation: this one waits for them, or they would find it gone and charge nothing.
    if (this.owed?.behindSettles()) {
      this.owed.add(lease.id, lease.keys);
      return;
    }
    this.store.release(lease.id, lease.keys).catch(() => this.owed?.add(lease.id, lease.keys));
  }
}
