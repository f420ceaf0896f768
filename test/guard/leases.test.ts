import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeasePool, leaseSignature } from '../../src/guard/leases.js';
import { MemorySpendStore } from '../../src/store/memory.js';

const END = Date.UTC(2027, 0, 1);

async function setup() {
  const store = new MemorySpendStore(() => {}, () => 0);
  await store.seed('b', 0, END);
  await store.seed('cap', 0, END);
  const pool = new LeasePool(store, 1_000);
  /** Leases bucket `b` (and the shared `cap`, when its line is given) for requests of `estimate`. */
  const lend = async (id: string, line: number, estimate: number, wanted: number, capLine?: number) => {
    const buckets = [{ key: 'b', blockLine: line, amount: estimate, wanted, periodEndMs: END }];
    if (capLine !== undefined) buckets.unshift({ key: 'cap', blockLine: capLine, amount: estimate, wanted, periodEndMs: END });
    const outcome = await store.reserve(id, buckets, 0, 60_000);
    if (outcome.kind !== 'admitted') throw new Error(outcome.kind);
    const amounts = buckets.map(() => estimate);
    const lease = pool.open(id, leaseSignature(buckets), buckets.map((b) => b.key), outcome.granted, amounts, outcome.states.map((s) => s.spend));
    return { lease, signature: leaseSignature(buckets), amounts };
  };
  const reserved = async (key = 'b') => (await store.read([key]))[0]!.reserved;
  return { store, pool, lend, reserved };
}

/** A pool sizing leases by demand (up to 8 requests before bursts grow them, at most `max`) over one far-from-the-line bucket `b`, on fake timers. */
async function sizedPool(max: number) {
  vi.useFakeTimers();
  const store = new MemorySpendStore(() => {}, () => 0);
  await store.seed('b', 0, END);
  const pool = new LeasePool(store, 1_000, { requestsPerLease: 8, maxRequestsPerLease: max });
  return { store, pool, signature: leaseSignature([{ key: 'b', blockLine: 1_000_000 }]) };
}

describe('headroom leases', () => {
  afterEach(() => vi.useRealTimers());

  it('serves requests from a slice until it is used up, then gives back nothing more than is left', async () => {
    const { store, pool, lend, reserved } = await setup();
    const { lease, signature } = await lend('l1', 1_000, 10, 40);
    expect(lease.granted).toEqual([40]);
    for (let i = 0; i < 3; i++) expect(pool.take(signature, [10])).toBe(lease);
    expect(pool.take(signature, [10])).toBeUndefined(); // 40 used: the lease retires
    for (let i = 0; i < 4; i++) {
      await store.settle('l1', [{ key: 'b', amount: 9, release: 10 }], 'e');
      pool.done(lease);
    }
    expect(await reserved()).toBe(0);
    expect((await store.read(['b']))[0]!.spend).toBe(36);
  });

  it('never lends a request under other lines (a changed limit takes its own lease at once)', async () => {
    const { pool, lend } = await setup();
    const { lease, signature } = await lend('l1', 1_000, 10, 40);
    expect(pool.take(leaseSignature([{ key: 'b', blockLine: 500 }]), [10])).toBeUndefined();
    expect(pool.take(signature, [10])).toBe(lease);
  });

  it('covers every bucket of a request: it ends when any one of them has no room left', async () => {
    const { store, pool, lend, reserved } = await setup();
    // The cap has room for a 40-slice quarter (160 / 4); the tenant bucket for 80.
    const { lease, signature } = await lend('l1', 1_000, 10, 80, 160);
    expect(lease.granted).toEqual([40, 80]);
    expect(await reserved('cap')).toBe(40);
    for (let i = 0; i < 3; i++) expect(pool.take(signature, [10, 10])).toBe(lease);
    expect(pool.take(signature, [10, 10])).toBeUndefined(); // the cap's slice is used up
    for (let i = 0; i < 4; i++) {
      await store.settle('l1', [{ key: 'cap', amount: 10, release: 10 }, { key: 'b', amount: 10, release: 10 }], 'e');
      pool.done(lease);
    }
    await vi.waitFor(async () => expect(await reserved('b')).toBe(0)); // the unused 40 of `b` went back
    expect(await reserved('cap')).toBe(0);
  });

  it('returns the unused rest when the lease expires and its last request is done', async () => {
    vi.useFakeTimers();
    const { store, pool, lend, reserved } = await setup();
    const { lease } = await lend('l1', 1_000, 10, 80);
    expect(await reserved()).toBe(80);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await reserved()).toBe(80); // its first request is still in flight
    await store.settle('l1', [{ key: 'b', amount: 10, release: 10 }], 'e');
    pool.done(lease);
    await vi.advanceTimersByTimeAsync(0);
    expect(await reserved()).toBe(0);
  });

  it('keeps no lease for a one-request slice (near the line)', async () => {
    const { pool, lend } = await setup();
    const { lease, signature } = await lend('l1', 40, 10, 80);
    expect(lease.granted).toEqual([10]);
    expect(pool.take(signature, [10])).toBeUndefined();
  });

  it('sizes the next lease by demand: doubles when a live lease is used up, halves when one expires mostly unused', async () => {
    const { store, pool, signature } = await sizedPool(32);
    const lend = async (id: string) => {
      const outcome = await store.reserve(id, [{ key: 'b', blockLine: 1_000_000, amount: 10, wanted: 10 * pool.requestsFor(signature), periodEndMs: END }], 0, 60_000);
      if (outcome.kind !== 'admitted') throw new Error(outcome.kind);
      return pool.open(id, signature, ['b'], outcome.granted, [10], [0]);
    };
    expect(pool.requestsFor(signature)).toBe(1); // not reserved lately
    expect(pool.reserving(signature, 0, true)).toBe(8); // a burst: straight to a full lease
    for (const [i, size] of [[1, 16], [2, 32], [3, 32]] as const) {
      const lease = await lend(`l${i}`);
      while (pool.take(signature, [10])) {
        // use it up while it lives
      }
      expect(lease.retired).toBe(true);
      expect(pool.requestsFor(signature)).toBe(size); // capped at the maximum
    }
    await lend('l4'); // one request of 32: expires mostly unused
    await vi.advanceTimersByTimeAsync(1_000);
    expect(pool.requestsFor(signature)).toBe(16);
  });

  it('takes no lease (no release either) for buckets asked rarely, and grows one when they get busy', async () => {
    const { store, pool, signature } = await sizedPool(64);
    let now = 0;
    /** One request every 3 s: it reserves what the pool asks for, is settled, and its lease (if any) expires. */
    const rareRequest = async (id: string) => {
      const size = pool.reserving(signature, now);
      const outcome = await store.reserve(id, [{ key: 'b', blockLine: 1_000_000, amount: 10, wanted: 10 * size, periodEndMs: END }], now, 60_000);
      if (outcome.kind !== 'admitted') throw new Error(outcome.kind);
      const lease = pool.open(id, signature, ['b'], outcome.granted, [10], [0]);
      await store.settle(id, [{ key: 'b', amount: 10, release: 10 }], 'e');
      pool.done(lease);
      await vi.advanceTimersByTimeAsync(3_000);
      now += 3_000;
      return { size, lease };
    };
    const sizes = [];
    for (let i = 0; i < 5; i++) sizes.push((await rareRequest(`r${i}`)).size);
    expect(sizes).toEqual([1, 1, 1, 1, 1]);
    const { lease } = await rareRequest('r5');
    expect(lease.retired).toBe(true); // one request's worth: nothing kept, nothing to release
    expect((await store.read(['b']))[0]!.reserved).toBe(0);
    // The bucket gets busy: asked again within a lease's lifetime, it doubles each time up to 8.
    const sizesThen = [0, 10, 20, 30, 40].map((after) => pool.reserving(signature, now + after));
    expect(sizesThen).toEqual([1, 2, 4, 8, 8]);
  });

  it('shrinks a lease that expires mostly unused, down to a single request', async () => {
    const { store, pool, signature } = await sizedPool(64);
    const sizes = [];
    for (let i = 0; i < 5; i++) {
      const size = pool.reserving(signature, i * 3_000, i === 0);
      sizes.push(size);
      const outcome = await store.reserve(`q${i}`, [{ key: 'b', blockLine: 1_000_000, amount: 10, wanted: 10 * size, periodEndMs: END }], 0, 60_000);
      if (outcome.kind !== 'admitted') throw new Error(outcome.kind);
      pool.done(pool.open(`q${i}`, signature, ['b'], outcome.granted, [10], [0]));
      await vi.advanceTimersByTimeAsync(3_000); // its lease, one request of `size`, expires
    }
    expect(sizes).toEqual([8, 4, 2, 1, 1]);
  });

  it('forgets the least recently reserved buckets first when it has sized 10,000', async () => {
    const { pool } = await sizedPool(64);
    const sig = (i: number) => leaseSignature([{ key: `k${i}`, blockLine: 1_000_000 }]);
    pool.reserving(sig(0), 0, true);
    pool.reserving(sig(1), 0, true);
    for (let i = 2; i < 10_000; i++) pool.reserving(sig(i), 0);
    pool.reserving(sig(0), 1); // reserved again: now the most recent
    pool.reserving(sig(10_000), 2); // one more than it keeps: the oldest goes
    expect(pool.requestsFor(sig(0))).toBe(8);
    expect(pool.requestsFor(sig(1))).toBe(1); // forgotten: starts over
    expect(pool.reserving(sig(5_000), 500)).toBe(2); // still known: asked again within a lease's lifetime, it doubles
  });
});
