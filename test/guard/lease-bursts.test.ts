import { describe, expect, it } from 'vitest';
import type { BucketReservation, ReserveOutcome } from '../../src/budget/spend-store.js';
import type { Db } from '../../src/db/client.js';
import { BudgetGuard } from '../../src/guard/budget-guard.js';
import type { CrossingRecorder } from '../../src/guard/crossings.js';
import { PriceBook } from '../../src/guard/price-book.js';
import type { Caller } from '../../src/guard/tenant-directory.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { MemorySpendStore } from '../../src/store/memory.js';
import { tenantLimits } from '../support/tenants.js';

const T0 = Date.UTC(2026, 10, 1);
const DAY = 86_400_000;
const REQUEST = { endpoint: '/v1/chat/completions', model: 'm', body: { messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 } };

/** A store a round trip away (as Redis is), counting the reserves and releases that reach it. */
class RemoteStore extends MemorySpendStore {
  reserves = 0;
  releases = 0;
  override async release(id: string, keys: readonly string[], amounts?: readonly number[]): Promise<void> {
    this.releases++;
    return super.release(id, keys, amounts);
  }
  override async reserve(id: string, buckets: readonly BucketReservation[], nowMs: number, ttlMs: number): Promise<ReserveOutcome> {
    this.reserves++;
    await new Promise((resolve) => setTimeout(resolve, 2));
    for (const b of buckets) await this.seed(b.key, 0, b.periodEndMs);
    return super.reserve(id, buckets, nowMs, ttlMs);
  }
}

function setup(maxBudgetMicros: number, lifetimeMs = 60_000) {
  const started = Date.now();
  const now = () => T0 + DAY + (Date.now() - started);
  const store = new RemoteStore(() => {}, now);
  const tenant = { ...tenantLimits(T0, { maxBudgetMicros }), upstreamKey: null };
  const caller: Caller = { keyId: 'key_1', origin: 'registered', keyBudgetMicros: null, tenant } as Caller;
  const crossings = { note() {} } as unknown as CrossingRecorder;
  const guard = new BudgetGuard(store, {} as Db, new PriceBook({ m: { input_per_million: 1, output_per_million: 1 } }), crossings, createMetrics({ defaultMetrics: false }), createLogger('silent'), now, async () => undefined, {
    failMode: 'closed',
    leases: { requestsPerLease: 8, maxRequestsPerLease: 512, lifetimeMs },
    reservationTtlMs: 60_000,
    defaultCompletionTokens: 16,
    fallbackPrice: { inputPerMillion: 1, outputPerMillion: 1 },
  });
  /** `n` simultaneous admissions; each is settled at its estimate once all are in. */
  const burst = async (n: number) => {
    const admissions = await Promise.all(Array.from({ length: n }, (_, i) => guard.admit(caller, REQUEST, `r-${Math.random()}-${i}`)));
    for (const a of admissions) {
      await store.settle(a.reservationId, a.budgets.map((b, i) => ({ key: b.key, amount: a.amounts[i]!, release: a.amounts[i]! })), '');
      guard.finished(a);
    }
    return admissions;
  };
  return { store, guard, caller, burst };
}

describe('headroom leases under bursts', () => {
  it('admits a burst of 64 with a few store reserves, not one per request, and grows the lease for the next bursts', async () => {
    const { store, burst } = setup(1_000_000_000);
    await burst(64);
    // Leases of 8, 16, 32 and 64 requests, one after the other: 4 round trips for 64 requests.
    const first = store.reserves;
    expect(first).toBeLessThanOrEqual(5);
    for (let i = 0; i < 4; i++) await burst(64);
    // Grown to cover a whole burst: about one reserve per burst from here on.
    expect(store.reserves - first).toBeLessThanOrEqual(6);
  });

  it('lends a key asked now and then no lease: one reserve per request, nothing to release', async () => {
    // Leases live 40 ms here, and the key is asked every 100 ms: each request alone in a lifetime.
    const { store, burst } = setup(1_000_000_000, 40);
    let keys: readonly string[] = [];
    for (let i = 0; i < 4; i++) {
      const [admission] = await burst(1);
      keys = admission!.budgets.map((b) => b.key);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(store.reserves).toBe(4);
    expect(store.releases).toBe(0);
    for (const state of await store.read(keys)) expect(state?.reserved).toBe(0);
  });

  it('near the block line, nobody waits for a lease that cannot be shared, and the line holds', async () => {
    // Block line 220 µ$ (budget 200, grace 110 %); each request reserves a few dozen µ$.
    const { store, guard, caller } = setup(200);
    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => guard.admit(caller, REQUEST, `r${i}`)));
    const admitted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const estimate = admitted[0]!.estimate.micros;
    expect(admitted.length).toBeGreaterThan(1);
    expect(admitted.length * estimate).toBeLessThanOrEqual(220 + estimate);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as { code: string }).code).toBe('budget_exceeded');
    const [state] = await store.read(admitted[0]!.budgets.map((b) => b.key));
    // What the store holds (the requests' parts and a lease's unused rest) stays within one request of the line.
    expect(state!.reserved).toBeLessThanOrEqual(220 + estimate);
  });

  it('a settle that reaches the block line ends the lease: answers that cost more than estimated admit nobody after it', async () => {
    // Block line 110,000 µ$; each request is estimated at a few dozen µ$, so a lease has room for many.
    const { store, guard, caller, burst } = setup(100_000);
    await burst(8);
    await burst(8);
    const [first, second] = await Promise.all([guard.admit(caller, REQUEST, 'dear-1'), guard.admit(caller, REQUEST, 'dear-2')]);
    expect(first!.lease).toBeDefined();
    expect(second!.lease).toBe(first!.lease);
    // The first answer cost far more than its estimate: its settle finds the spend past the line.
    const after = await store.settle(first!.reservationId, first!.budgets.map((b, i) => ({ key: b.key, amount: 120_000, release: first!.amounts[i]! })), '');
    expect(after[0]).toBeGreaterThanOrEqual(110_000);
    guard.noteSpends(first!, after, Date.now());
    guard.finished(first!);
    const reserves = store.reserves;
    await expect(Promise.resolve(guard.admit(caller, REQUEST, 'after-line'))).rejects.toMatchObject({ code: 'budget_exceeded' });
    // Refused by the store itself, not by a lease.
    expect(store.reserves).toBe(reserves + 1);
  });
});
