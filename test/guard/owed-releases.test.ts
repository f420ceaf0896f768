import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BucketReservation, ReserveOutcome } from '../../src/budget/spend-store.js';
import type { Db } from '../../src/db/client.js';
import { BudgetGuard, type Admission } from '../../src/guard/budget-guard.js';
import type { CrossingRecorder } from '../../src/guard/crossings.js';
import { OwedReleases } from '../../src/guard/owed-releases.js';
import { PriceBook } from '../../src/guard/price-book.js';
import { Settlement } from '../../src/guard/settlement.js';
import type { Caller } from '../../src/guard/tenant-directory.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { MemorySpendStore } from '../../src/store/memory.js';
import { tenantLimits } from '../support/tenants.js';

/**
 * Releases the store did not take (Redis away) are given back once it takes them again, after
 * the settles owed to it; only releases that are whole go there, since a part of a lease that
 * others share, given back twice, would return their room too.
 */

const REQUEST = { endpoint: '/v1/chat/completions', model: 'm', body: { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 16 } };
const SERVED = { statusCode: 200, usage: { promptTokens: 3, completionTokens: 4, costUsd: undefined }, costHeader: '0.000007', clientRequestId: null, endpoint: REQUEST.endpoint, model: 'm' };
const FAILED = { statusCode: 500, usage: undefined, costHeader: undefined, clientRequestId: null, endpoint: REQUEST.endpoint, model: 'm' };

/** A store whose releases (and settles, with `settlesAway`) fail while `away` (its buckets known from the start). */
class AwayStore extends MemorySpendStore {
  away = false;
  settlesAway = false;
  readonly released: string[] = [];
  override settle(...args: Parameters<MemorySpendStore['settle']>): ReturnType<MemorySpendStore['settle']> {
    if (this.away && this.settlesAway) return Promise.reject(new Error('Connection is closed.'));
    return super.settle(...args);
  }
  override reserve(id: string, buckets: readonly BucketReservation[], nowMs: number, ttlMs: number): ReserveOutcome | Promise<ReserveOutcome> {
    for (const b of buckets) void this.seed(b.key, 0, b.periodEndMs);
    return super.reserve(id, buckets, nowMs, ttlMs);
  }
  override async release(id: string, keys: readonly string[], amounts?: readonly number[]): Promise<void> {
    if (this.away) throw new Error('Connection is closed.');
    this.released.push(id);
    return super.release(id, keys, amounts);
  }
}

function setup(options: { real?: boolean } = {}) {
  const now = () => Date.now();
  const store = new AwayStore(() => {}, now);
  const tenant = { ...tenantLimits(now() - 1_000, { maxBudgetMicros: 1_000_000_000 }), upstreamKey: null };
  const caller: Caller = { keyId: 'key_1', origin: 'registered', keyBudgetMicros: null, tenant };
  const crossings = { note: () => {} } as unknown as CrossingRecorder;
  const prices = new PriceBook({ m: { input_per_million: 1, output_per_million: 1 } });
  const metrics = createMetrics({ defaultMetrics: false });
  const owed: { id: string; keys: readonly string[] }[] = [];
  // The real thing (releases wait for the settles owed), or a list of what was owed.
  const real = options.real ? new OwedReleases(store, createLogger('silent'), (): number => settlement.settlesOwed) : undefined;
  const owedReleases = real ?? { add: (id: string, keys: readonly string[]) => void owed.push({ id, keys }), behindSettles: () => false };
  const guard = new BudgetGuard(store, {} as Db, prices, crossings, metrics, createLogger('silent'), now, () => undefined, {
    failMode: 'closed',
    leases: { requestsPerLease: 8, maxRequestsPerLease: 8, lifetimeMs: 60_000 },
    reservationTtlMs: 60_000,
    defaultCompletionTokens: 16,
    fallbackPrice: { inputPerMillion: 1, outputPerMillion: 1 },
    owedReleases,
  });
  let n = 0;
  const admit = async () => guard.admit(caller, REQUEST, `r-${n++}`);
  const settlement = new Settlement(store, guard, prices, metrics, createLogger('silent'), now, undefined, undefined, owedReleases);
  const settled = () => new Promise((resolve) => setTimeout(resolve, 5));
  return { store, guard, admit, settlement, owed, real, settled };
}

describe('releases the store did not take', () => {
  it('owes the whole reservation of a request that held one alone', async () => {
    const { store, admit, settlement, owed, settled } = setup();
    // Buckets not reserved lately: a single request's reservation, which lends to nobody else.
    const alone = await admit();
    expect(alone.lease?.retired).toBe(true);
    store.away = true;
    settlement.complete(alone, FAILED);
    await settled();
    expect(owed).toEqual([{ id: alone.reservationId, keys: alone.budgets.map((b) => b.key) }]);
  });

  it("does not owe a part of a lease others share, but owes the lease's rest once it runs out", async () => {
    const { store, guard, admit, settlement, owed, settled } = setup();
    settlement.complete(await admit(), FAILED);
    // Asked again within a lease's lifetime: a lease for two, then a slice of it.
    const first = await admit();
    const second = await admit();
    expect(second.lease).toBe(first.lease);
    expect(first.lease!.retired).toBe(false);
    store.away = true;
    settlement.complete(second, FAILED);
    await settled();
    expect(owed).toEqual([]);

    settlement.complete(first, FAILED);
    guard.retireLeases();
    await settled();
    expect(owed).toEqual([{ id: first.reservationId, keys: first.budgets.map((b) => b.key) }]);
  });
});

describe('a lease whose requests owe their settles', () => {
  it('gives its rest back only after their replays, which charge it', async () => {
    const { store, guard, admit, settlement, real, settled } = setup({ real: true });
    // Leases grow with use: one request alone, a lease for two, then one for four that two share.
    const [alone, x, y, first, second] = await Promise.all([admit(), admit(), admit(), admit(), admit()]);
    for (const done of [alone, x, y]) settlement.complete(done!, SERVED);
    expect(second!.lease).toBe(first!.lease);
    expect(first!.lease!.granted[0]).toBeGreaterThan(2 * first!.amounts[0]!);
    const key = first!.budgets[0]!.key;
    const before = (await store.read([key]))[0]!.spend;

    // Both settles fail (the store away), and it comes back before the lease runs out.
    store.away = true;
    store.settlesAway = true;
    settlement.complete(first!, SERVED);
    settlement.complete(second!, SERVED);
    await settled();
    expect(settlement.settlesOwed).toBe(2);
    store.away = false;
    guard.retireLeases();
    await settled();
    // The rest waits: released now, the replays would find no reservation and charge nothing.
    expect(store.released).toEqual([]);
    expect(real!.size).toBe(1);

    await settlement.flush();
    expect(settlement.settlesOwed).toBe(0);
    expect(await real!.flush()).toBe(1);
    expect(store.released).toEqual([first!.reservationId]);
    expect((await store.read([key]))[0]).toEqual({ spend: before + 14, reserved: 0 });
  });
});

describe('OwedReleases', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives back what it owes once the store takes it, in order, and stops at the first failure', async () => {
    const store = new AwayStore(() => {}, Date.now);
    store.away = true;
    const owed = new OwedReleases(store, createLogger('silent'), () => 0);
    owed.add('a', ['k']);
    owed.add('b', ['k']);
    owed.add('a', ['k']);
    expect(owed.size).toBe(2);
    expect(await owed.flush()).toBe(0);
    expect(owed.size).toBe(2);

    store.away = false;
    expect(await owed.flush()).toBe(2);
    expect(store.released).toEqual(['a', 'b']);
    expect(owed.size).toBe(0);
  });

  it('waits for the settles owed to the store first', async () => {
    const store = new AwayStore(() => {}, Date.now);
    let settles = 1;
    const owed = new OwedReleases(store, createLogger('silent'), () => settles);
    owed.add('a', ['k']);
    expect(await owed.flush()).toBe(0);
    expect(store.released).toEqual([]);
    settles = 0;
    expect(await owed.flush()).toBe(1);
    expect(store.released).toEqual(['a']);
  });

  it('tries again every second by itself until the store takes it, and not after stop', async () => {
    vi.useFakeTimers();
    const store = new AwayStore(() => {}, Date.now);
    store.away = true;
    const owed = new OwedReleases(store, createLogger('silent'), () => 0);
    owed.add('a', ['k']);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(owed.size).toBe(1);
    store.away = false;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(store.released).toEqual(['a']);

    store.away = true;
    owed.add('b', ['k']);
    await owed.stop();
    store.away = false;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(store.released).toEqual(['a']);
  });
});
