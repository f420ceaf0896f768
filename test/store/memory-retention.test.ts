import { describe, expect, it } from 'vitest';
import { MemorySpendStore } from '../../src/store/memory.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1);

describe('the in-process store forgets periods long over', () => {
  function storeAt(clock: { ms: number }): MemorySpendStore {
    return new MemorySpendStore(() => {}, () => clock.ms);
  }

  it('drops a bucket a day after its period ended, when a new bucket is seeded, and keeps the rest', async () => {
    const clock = { ms: T0 };
    const store = storeAt(clock);
    await store.seed('old', 5, T0 + DAY);
    await store.seed('current', 7, T0 + 30 * DAY);
    clock.ms = T0 + 2 * DAY; // exactly a day after 'old' ended: still kept
    await store.seed('next', 0, T0 + 3 * DAY);
    expect(await store.read(['old', 'current'])).toEqual([{ spend: 5, reserved: 0 }, { spend: 7, reserved: 0 }]);
    clock.ms += 60_001;
    await store.seed('later', 0, T0 + 30 * DAY);
    expect(await store.read(['old', 'current', 'next', 'later'])).toEqual([undefined, { spend: 7, reserved: 0 }, { spend: 0, reserved: 0 }, { spend: 0, reserved: 0 }]);
  });

  it('looks for such buckets at most once a minute, however many are seeded', async () => {
    const clock = { ms: T0 };
    const store = storeAt(clock);
    await store.seed('a', 1, T0 - DAY - 1); // already due: the next seed walks and drops it
    await store.seed('b', 2, T0 - DAY + 30_000); // due 30 s from now
    expect(await store.read(['a', 'b'])).toEqual([undefined, { spend: 2, reserved: 0 }]);
    clock.ms = T0 + 40_000; // 'b' is due, but the last walk was 40 s ago
    await store.seed('c', 0, T0 + DAY);
    expect(await store.read(['b'])).toEqual([{ spend: 2, reserved: 0 }]);
    clock.ms = T0 + 60_000;
    await store.seed('d', 0, T0 + DAY);
    expect(await store.read(['b', 'c', 'd'])).toEqual([undefined, { spend: 0, reserved: 0 }, { spend: 0, reserved: 0 }]);
  });
});
