import type { SpendStore } from '../budget/spend-store.js';

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
  /** Per bucket, spend as of the lease, raised by the settles seen since (for the x-budget-* headers). */
  readonly knownSpends: number[];
  timer: NodeJS.Timeout | undefined;
}

/** The lease identity of a request's buckets: their keys and block lines. */
export function leaseSignature(buckets: readonly { readonly key: string; readonly blockLine: number }[]): string {
  return buckets.map((b) => `${b.key}@${b.blockLine}`).join('|');
}

export interface LeaseSizing {
  /** Requests a first lease asks room for (it may shrink to 1 for buckets asked rarely). */
  readonly requestsPerLease: number;
  /** The most a lease grows to under a steady burst (the store's quarter rule caps it too). */
  readonly maxRequestsPerLease: number;
}

/** Signatures whose lease size is remembered; beyond this they start from the base again. */
const MAX_SIZED = 10_000;

export class LeasePool {
  readonly #current = new Map<string, Lease>();
  /** Requests per lease, per signature, where it differs from the base (sized by demand), and when it was last reserved. */
  readonly #sizes = new Map<string, { size: number; lastMs: number }>();

  constructor(
    private readonly store: SpendStore,
    private readonly lifetimeMs: number,
    private readonly sizing: LeaseSizing = { requestsPerLease: 8, maxRequestsPerLease: 8 },
  ) {}

  /**
   * How many requests the next lease for these buckets should hold. It doubles each time a lease
   * is used up while still alive (a burst outran it: 64 requests in flight would otherwise go to
   * the store about 56 times a burst with slices of 8), and halves when one expires mostly unused.
   */
  requestsFor(signature: string): number {
    return this.#sizes.get(signature)?.size ?? this.sizing.requestsPerLease;
  }

  /**
   * The size to ask the store for now. Buckets asked rarely shrink (a lease that expires having
   * served one request halves the next) down to a single request, which holds no lease at all:
   * a key used once every few seconds then costs one reserve instead of a reserve and a release.
   * Asked again within a lease's lifetime, such buckets grow back (doubling each time).
   */
  reserving(signature: string, nowMs: number): number {
    const known = this.#sizes.get(signature);
    if (known && known.size < this.sizing.requestsPerLease && nowMs - known.lastMs < this.lifetimeMs) this.#resize(signature, 2);
    const size = this.requestsFor(signature);
    const after = this.#sizes.get(signature);
    if (after) after.lastMs = nowMs;
    return size;
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

  noteSpends(lease: Lease, spends: readonly (number | undefined)[]): void {
    spends.forEach((spend, i) => {
      if (spend !== undefined && spend > lease.knownSpends[i]!) lease.knownSpends[i] = spend;
    });
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
    const { requestsPerLease, maxRequestsPerLease } = this.sizing;
    const known = this.#sizes.get(signature);
    const size = Math.min(maxRequestsPerLease, Math.max(1, Math.round((known?.size ?? requestsPerLease) * factor)));
    if (size === requestsPerLease) this.#sizes.delete(signature);
    else if (known) known.size = size;
    else {
      if (this.#sizes.size >= MAX_SIZED) this.#sizes.clear();
      this.#sizes.set(signature, { size, lastMs: 0 });
    }
  }

  /** Once retired and quiet, the part no request used (each request returned its own part). */
  #returnRest(lease: Lease): void {
    if (!lease.retired || lease.outstanding > 0 || lease.used.every((used, i) => used >= lease.granted[i]!)) return;
    void this.store.release(lease.id, lease.keys).catch(() => {
      // The reservation's TTL returns it if the store cannot be told now.
    });
  }
}
