import { describe, expect, it } from 'vitest';
import type { BucketCharge, BucketReservation, ReserveOutcome } from '../../src/budget/spend-store.js';
import type { Db } from '../../src/db/client.js';
import { BudgetGuard, type Admission, type GuardOptions } from '../../src/guard/budget-guard.js';
import type { CrossingRecorder } from '../../src/guard/crossings.js';
import { PriceBook } from '../../src/guard/price-book.js';
import { Settlement } from '../../src/guard/settlement.js';
import type { Caller } from '../../src/guard/tenant-directory.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { MemorySpendStore } from '../../src/store/memory.js';
import { tenantLimits } from '../support/tenants.js';

/**
 * Admission answers at once when nothing has to be waited for (the in-process store, a slice of a
 * live lease): the proxy then skips an await per request. Whatever refuses still rejects a
 * promise, never throws where the caller did not expect it. The in-process store's settle
 * answers at once too.
 */

const REQUEST = { endpoint: '/v1/chat/completions', model: 'm', body: { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 16 } };

/**
 * The in-process store with its buckets known from the start (seeding them from the ledger, which
 * a new period's first request waits for, is test/guard/seeding.test.ts's subject).
 */
class KnownBuckets extends MemorySpendStore {
  override reserve(id: string, buckets: readonly BucketReservation[], nowMs: number, ttlMs: number): ReserveOutcome | Promise<ReserveOutcome> {
    // The in-process store's seed does its work before it returns.
    for (const b of buckets) void this.seed(b.key, 0, b.periodEndMs);
    return super.reserve(id, buckets, nowMs, ttlMs);
  }
}

/** The same a round trip away, as Redis is: every answer a promise. */
class RemoteStore extends KnownBuckets {
  override async reserve(id: string, buckets: readonly BucketReservation[], nowMs: number, ttlMs: number): Promise<ReserveOutcome> {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return super.reserve(id, buckets, nowMs, ttlMs);
  }
  override async settle(id: string, charges: readonly BucketCharge[], event: string): Promise<readonly (number | undefined)[]> {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return super.settle(id, charges, event);
  }
}

/** A store whose reserve fails before answering (a bug, a closed client). */
class BrokenStore extends MemorySpendStore {
  override reserve(): ReserveOutcome {
    throw new Error('connection is closed');
  }
}

/** A store that reserves, but whose settle fails before answering. */
class UnsettlingStore extends KnownBuckets {
  override settle(): readonly (number | undefined)[] {
    throw new Error('connection is closed');
  }
}

function setup(
  options: { store?: MemorySpendStore; maxBudgetMicros?: number; leases?: GuardOptions['leases']; failMode?: 'open' | 'closed'; global?: 'promise'; writeDirect?: (event: string) => void } = {},
) {
  const now = () => Date.now();
  const store = options.store ?? new KnownBuckets(() => {}, now);
  const tenant = { ...tenantLimits(now() - 1_000, { maxBudgetMicros: options.maxBudgetMicros ?? 1_000_000_000 }), upstreamKey: null };
  const caller: Caller = { keyId: 'key_1', origin: 'registered', keyBudgetMicros: null, tenant };
  const globalLimit = options.global === 'promise' ? () => Promise.resolve(undefined) : () => undefined;
  /** Spends noted after settles (each settle notes its budgets' spends for the alert crossings). */
  const noted: number[] = [];
  const crossings = { note: ({ spend }: { spend: number }) => void noted.push(spend) } as unknown as CrossingRecorder;
  const prices = new PriceBook({ m: { input_per_million: 1, output_per_million: 1 } });
  const metrics = createMetrics({ defaultMetrics: false });
  const guard = new BudgetGuard(store, {} as Db, prices, crossings, metrics, createLogger('silent'), now, globalLimit, {
    failMode: options.failMode ?? 'closed',
    leases: options.leases,
    reservationTtlMs: 60_000,
    defaultCompletionTokens: 16,
    fallbackPrice: { inputPerMillion: 1, outputPerMillion: 1 },
  });
  let n = 0;
  const admit = () => guard.admit(caller, REQUEST, `r-${n++}`);
  const settlement = new Settlement(store, guard, prices, metrics, createLogger('silent'), now, options.writeDirect);
  return { admit, settlement, noted };
}

describe('admission and settlement at once', () => {
  it('with the in-process store, admits without a promise', () => {
    const { admit } = setup();
    const admitted = admit();
    expect(admitted).not.toBeInstanceOf(Promise);
    expect((admitted as Admission).reserved).toBe(true);
    expect((admitted as Admission).headers['x-budget-status']).toBe('ok');
  });

  it('refuses with a rejected promise, not a throw, even when the store answered at once', async () => {
    const { admit } = setup({ maxBudgetMicros: 0 });
    let refused: unknown;
    expect(() => (refused = admit())).not.toThrow();
    expect(refused).toBeInstanceOf(Promise);
    await expect(refused).rejects.toMatchObject({ code: 'budget_exceeded', headers: { 'x-should-retry': 'false' } });
  });

  it('with a store a round trip away, admits a slice of a live lease at once, and waits for the store otherwise', async () => {
    const { admit } = setup({ store: new RemoteStore(() => {}, Date.now), leases: { requestsPerLease: 8, maxRequestsPerLease: 64, lifetimeMs: 60_000 } });
    // A burst: the first takes a lease (a reserve), the rest wait for it and take slices.
    const burst = await Promise.all(Array.from({ length: 4 }, () => admit()));
    const lease = burst.at(-1)!.lease;
    expect(lease).toBeDefined();
    const next = admit();
    expect(next).not.toBeInstanceOf(Promise);
    expect((next as Admission).lease).toBe(lease);
  });

  it('waits for a global cap still being read', async () => {
    const { admit } = setup({ global: 'promise' });
    const admitted = admit();
    expect(admitted).toBeInstanceOf(Promise);
    expect((await admitted).reserved).toBe(true);
  });

  it('with the store failing before it answers: 503 as a rejected promise (fail-closed), or admitted without it (fail-open)', async () => {
    const closed = setup({ store: new BrokenStore(() => {}, Date.now) });
    let refused: unknown;
    expect(() => (refused = closed.admit())).not.toThrow();
    await expect(refused).rejects.toMatchObject({ code: 'budget_store_unavailable' });

    const open = setup({ store: new BrokenStore(() => {}, Date.now), failMode: 'open' });
    const admitted = open.admit();
    expect(admitted).not.toBeInstanceOf(Promise);
    expect((admitted as Admission).reserved).toBe(false);
  });

  it('settles at once with the in-process store: the spend is noted before the completion returns', async () => {
    const { admit, settlement, noted } = setup();
    const admission = admit() as Admission;
    settlement.complete(admission, { statusCode: 200, usage: { promptTokens: 1, completionTokens: 2, costUsd: undefined }, costHeader: '0.000007', clientRequestId: null, endpoint: REQUEST.endpoint, model: 'm' });
    expect(noted).toEqual([7]);
  });

  it('settles with a store a round trip away once it answers', async () => {
    const { admit, settlement, noted } = setup({ store: new RemoteStore(() => {}, Date.now) });
    const admission = await admit();
    settlement.complete(admission, { statusCode: 200, usage: { promptTokens: 1, completionTokens: 2, costUsd: undefined }, costHeader: '0.000007', clientRequestId: null, endpoint: REQUEST.endpoint, model: 'm' });
    expect(noted).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(noted).toEqual([7]);
  });

  it('with a settle failing before it answers, writes the usage straight to the ledger and owes the charge', async () => {
    const direct: string[] = [];
    const { admit, settlement, noted } = setup({ store: new UnsettlingStore(() => {}, Date.now), writeDirect: (event) => void direct.push(event) });
    const admission = (await admit()) as Admission;
    expect(() =>
      settlement.complete(admission, { statusCode: 200, usage: { promptTokens: 1, completionTokens: 2, costUsd: undefined }, costHeader: '0.000007', clientRequestId: null, endpoint: REQUEST.endpoint, model: 'm' }),
    ).not.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(direct).toHaveLength(1);
    expect(JSON.parse(direct[0]!)).toMatchObject({ request_id: admission.requestId, cost_micros: 7 });
    expect(noted).toEqual([]);
    settlement.stop();
  });
});
