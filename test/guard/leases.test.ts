import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeasePool } from '../../src/guard/leases.js';
import { MemorySpendStore } from '../../src/store/memory.js';

const END = Date.UTC(2027, 0, 1);

async function setup() {
  const store = new MemorySpendStore(() => {}, () => 0);
  await store.seed('b', 0, END);
  const pool = new LeasePool(store, 1_000);
  const lend = async (id: string, line: number, estimate: number, wanted: number) => {
    const outcome = await store.reserve(id, [{ key: 'b', blockLine: line, amount: estimate, wanted, periodEndMs: END }], 0, 60_000);
    if (outcome.kind !== 'admitted') throw new Error(outcome.kind);
    return pool.open(id, 'b', line, outcome.granted[0]!, estimate, outcome.states[0]!.spend);
  };
  return { store, pool, lend, reserved: async () => (await store.read(['b']))[0]!.reserved };
}

describe('headroom leases', () => {
  afterEach(() => vi.useRealTimers());

  it('serves requests from a slice until it is used up, then gives back nothing more than is left', async () => {
    const { store, pool, lend, reserved } = await setup();
    const lease = await lend('l1', 1_000, 10, 40);
    expect(lease.granted).toBe(40);
    for (let i = 0; i < 3; i++) expect(pool.take('b', 1_000, 10)).toBe(lease);
    expect(pool.take('b', 1_000, 10)).toBeUndefined(); // 40 used: the lease retires
    for (let i = 0; i < 4; i++) {
      await store.settle('l1', [{ key: 'b', amount: 9, release: 10 }], 'e');
      pool.done(lease);
    }
    expect(await reserved()).toBe(0);
    expect((await store.read(['b']))[0]!.spend).toBe(36);
  });

  it('retires a lease taken under another budget (a changed limit applies at once)', async () => {
    const { pool, lend } = await setup();
    await lend('l1', 1_000, 10, 40);
    expect(pool.take('b', 500, 10)).toBeUndefined();
    expect(pool.take('b', 1_000, 10)).toBeUndefined(); // retired for good
  });

  it('returns the unused rest when the lease expires and its last request is done', async () => {
    vi.useFakeTimers();
    const { store, pool, lend, reserved } = await setup();
    const lease = await lend('l1', 1_000, 10, 80);
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
    const lease = await lend('l1', 40, 10, 80);
    expect(lease.granted).toBe(10);
    expect(pool.take('b', 40, 10)).toBeUndefined();
  });
});
