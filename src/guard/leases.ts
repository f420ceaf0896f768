import type { SpendStore } from '../budget/spend-store.js';

/**
 * Headroom leases (DESIGN "What the hot path costs"): far from its block line a tenant's bucket
 * lends this replica a slice of headroom in one atomic reserve, and the next requests are
 * admitted against the slice without a store round trip. The store sizes slices (at most a
 * quarter of what is left) and shrinks them to one request near the line, which keeps the hard
 * cap exact; each request's settle returns its part of the slice, and a retired lease returns
 * the rest. A lease lives briefly, so unused headroom goes back to the other replicas soon.
 */
export interface Lease {
  readonly id: string;
  readonly bucketKey: string;
  /** The line the lease was taken under: a changed budget retires it. */
  readonly blockLine: number;
  readonly granted: number;
  /** Estimates of the requests admitted under it. */
  used: number;
  /** Requests admitted and not yet settled or released. */
  outstanding: number;
  retired: boolean;
  /** Spend as of the lease, raised by the settles seen since (for the x-budget-* headers). */
  knownSpend: number;
  timer: NodeJS.Timeout | undefined;
}

export class LeasePool {
  readonly #current = new Map<string, Lease>();

  constructor(
    private readonly store: SpendStore,
    private readonly lifetimeMs: number,
  ) {}

  /** A slice of this bucket's live lease for a request estimated at `estimate`, if it has room. */
  take(bucketKey: string, blockLine: number, estimate: number): Lease | undefined {
    const lease = this.#current.get(bucketKey);
    if (!lease) return undefined;
    if (lease.blockLine !== blockLine || lease.used + estimate > lease.granted) {
      this.retire(lease);
      return undefined;
    }
    lease.used += estimate;
    lease.outstanding++;
    return lease;
  }

  /** A reservation the store just granted, its first request (of `estimate`) admitted. */
  open(id: string, bucketKey: string, blockLine: number, granted: number, estimate: number, spend: number): Lease {
    const lease: Lease = { id, bucketKey, blockLine, granted, used: estimate, outstanding: 1, retired: false, knownSpend: spend, timer: undefined };
    // A slice for one request only is used up at once; a larger one serves the next requests.
    if (granted <= estimate) {
      lease.retired = true;
      return lease;
    }
    const previous = this.#current.get(bucketKey);
    if (previous) this.retire(previous);
    this.#current.set(bucketKey, lease);
    lease.timer = setTimeout(() => this.retire(lease), this.lifetimeMs);
    lease.timer.unref();
    return lease;
  }

  /** One of the lease's requests was settled or released (its part already returned). */
  done(lease: Lease): void {
    lease.outstanding--;
    this.#returnRest(lease);
  }

  noteSpend(lease: Lease, spend: number): void {
    if (spend > lease.knownSpend) lease.knownSpend = spend;
  }

  /** No more requests under this lease; what its requests did not use goes back. */
  retire(lease: Lease): void {
    if (lease.retired) return;
    lease.retired = true;
    clearTimeout(lease.timer);
    if (this.#current.get(lease.bucketKey) === lease) this.#current.delete(lease.bucketKey);
    this.#returnRest(lease);
  }

  retireAll(): void {
    for (const lease of [...this.#current.values()]) this.retire(lease);
  }

  /** Once retired and quiet, the part no request used (each request returned its own part). */
  #returnRest(lease: Lease): void {
    if (!lease.retired || lease.outstanding > 0 || lease.used >= lease.granted) return;
    void this.store.release(lease.id, [lease.bucketKey]).catch(() => {
      // The reservation's TTL returns it if the store cannot be told now.
    });
  }
}
