import { describe, expect, it, vi } from 'vitest';
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

/** The in-process store, its buckets created on first use (seeding from the ledger is not under test). */
class SeededStore extends MemorySpendStore {
  override async reserve(id: string, buckets: readonly BucketReservation[], nowMs: number, ttlMs: number): Promise<ReserveOutcome> {
    for (const b of buckets) await this.seed(b.key, 0, b.periodEndMs);
    return super.reserve(id, buckets, nowMs, ttlMs);
  }
}

function setup() {
  const now = () => Date.now();
  const metrics = createMetrics({ defaultMetrics: false });
  // A plan is computed (its budgets, lines and gauges) when none is kept for the key and model:
  // each computation sets the gauge of the tenant's budget once (and a key budget's beside it).
  const computed = vi.spyOn(metrics.tenantBudget, 'labels');
  const tenant = { ...tenantLimits(now() - 1_000, { maxBudgetMicros: 1_000_000_000 }), upstreamKey: null };
  const caller = (keyId: string, keyBudgetMicros: number | null): Caller => ({ keyId, origin: 'registered', keyBudgetMicros, tenant });
  const guard = new BudgetGuard(new SeededStore(() => {}, now), {} as Db, new PriceBook({}), { note() {} } as unknown as CrossingRecorder, metrics, createLogger('silent'), now, async () => undefined, {
    failMode: 'closed',
    leases: undefined,
    reservationTtlMs: 60_000,
    defaultCompletionTokens: 16,
    fallbackPrice: { inputPerMillion: 1, outputPerMillion: 1 },
  });
  let n = 0;
  const admit = (keyId: string, model: string, keyBudgetMicros: number | null = null) =>
    guard.admit(caller(keyId, keyBudgetMicros), { endpoint: '/v1/chat/completions', model, body: { messages: [{ role: 'user', content: 'Hi' }] } }, `r-${n++}`);
  return { admit, computed: () => computed.mock.calls.filter((call) => (call as unknown[])[1] === 'tenant').length };
}

describe("a request's budget plan", () => {
  it('is computed once per key and model, whatever the key and model names', async () => {
    const { admit, computed } = setup();
    // Names that a joined "<key>\0<model>" key would confuse: each pair is a plan of its own.
    const pairs = [['k', 'a\u0000b'], ['k\u0000a', 'b'], ['k', ''], ['k2', 'a\u0000b']] as const;
    for (const [key, model] of pairs) await admit(key, model);
    expect(computed()).toBe(pairs.length);
    for (const [key, model] of pairs) await admit(key, model);
    expect(computed()).toBe(pairs.length);
  });

  it('keeps at most 64 plans per tenant, across its keys: a flood of model names does not grow memory', async () => {
    const { admit, computed } = setup();
    await admit('key-a', 'first');
    // 63 more plans, spread over two keys: 64 in all, and the first is still kept.
    for (let i = 0; i < 63; i++) await admit(i % 2 === 0 ? 'key-a' : 'key-b', `model-${i}`);
    expect(computed()).toBe(64);
    await admit('key-a', 'first');
    expect(computed()).toBe(64);
    // The 65th starts the tenant's plans over: the first is computed again.
    await admit('key-b', 'one-too-many');
    await admit('key-a', 'first');
    expect(computed()).toBe(66);
  });

  it('takes no more room when a plan is replaced (its key budget changed), only for new ones', async () => {
    const { admit, computed } = setup();
    await admit('key-b', 'kept');
    // The key's budget changes 100 times: each admission replaces the key's one plan.
    for (let i = 0; i < 100; i++) await admit('key-a', 'm', i % 2 === 0 ? 1_000_000_000 : 2_000_000_000);
    expect(computed()).toBe(101);
    await admit('key-b', 'kept');
    expect(computed()).toBe(101);
    // Two plans held, not 101: a new one goes beside them without starting over.
    await admit('key-c', 'new');
    await admit('key-b', 'kept');
    expect(computed()).toBe(102);
  });
});
