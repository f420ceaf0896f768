import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BucketReservation, SpendStore } from '../../src/budget/spend-store.js';
import { eventsOf, usageStreams } from '../../src/ledger/usage-stream.js';
import { MemorySpendStore } from '../../src/store/memory.js';
import { RedisSpendStore } from '../../src/store/redis.js';
import { redisUrl } from '../support/services.js';

/** A store under test plus a way to see the usage events it handed to the ledger. */
interface Subject {
  store: SpendStore;
  usageEvents(): Promise<string[]>;
  /** Two stores over the same shared state, as two replicas would have. */
  replica?: () => SpendStore;
}

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 1);
const END = T0 + 30 * 24 * HOUR;

function bucket(key: string, blockLine: number, amount: number): BucketReservation {
  return { key, blockLine, amount, periodEndMs: END };
}

function contract(name: string, makeSubject: () => Promise<Subject>, skip = false): void {
  describe.skipIf(skip)(name, () => {
    let subject: Subject;
    let store: SpendStore;
    let key: (name: string) => string;

    beforeEach(async () => {
      subject = await makeSubject();
      store = subject.store;
      const run = randomUUID();
      key = (n) => `${run}:${n}`;
    });

    it('reports buckets it does not know, and reserves nothing', async () => {
      await store.seed(key('a'), 0, END);
      const outcome = await store.reserve('r1', [bucket(key('a'), 100, 10), bucket(key('b'), 100, 10)], T0, HOUR);
      expect(outcome).toEqual({ kind: 'unknown', unknown: [1] });
      expect(await store.read([key('a'), key('b')])).toEqual([{ spend: 0, reserved: 0 }, undefined]);
    });

    it('admits below the line and reserves the amount in every bucket', async () => {
      await store.seed(key('a'), 30, END);
      await store.seed(key('b'), 0, END);
      const outcome = await store.reserve('r1', [bucket(key('a'), 100, 10), bucket(key('b'), 50, 10)], T0, HOUR);
      expect(outcome).toEqual({ kind: 'admitted', states: [{ spend: 30, reserved: 0 }, { spend: 0, reserved: 0 }], granted: [10, 10] });
      expect(await store.read([key('a'), key('b')])).toEqual([{ spend: 30, reserved: 10 }, { spend: 0, reserved: 10 }]);
    });

    it('refuses at the line, all or nothing: no bucket keeps a reservation', async () => {
      await store.seed(key('a'), 0, END);
      await store.seed(key('b'), 45, END);
      await store.reserve('r1', [bucket(key('b'), 50, 5)], T0, HOUR);
      const outcome = await store.reserve('r2', [bucket(key('a'), 100, 10), bucket(key('b'), 50, 10)], T0, HOUR);
      expect(outcome).toEqual({ kind: 'refused', refused: 1, states: [{ spend: 0, reserved: 0 }, { spend: 45, reserved: 5 }] });
      expect(await store.read([key('a')])).toEqual([{ spend: 0, reserved: 0 }]);
    });

    it('admits while spend + reserved is below the line even if the estimate overshoots it', async () => {
      await store.seed(key('a'), 99, END);
      expect((await store.reserve('r1', [bucket(key('a'), 100, 50)], T0, HOUR)).kind).toBe('admitted');
      expect((await store.reserve('r2', [bucket(key('a'), 100, 1)], T0, HOUR)).kind).toBe('refused');
    });

    it('settles: the actual cost replaces the reservation and the usage event reaches the ledger', async () => {
      await store.seed(key('a'), 10, END);
      await store.reserve('r1', [bucket(key('a'), 100, 20)], T0, HOUR);
      const after = await store.settle('r1', [{ key: key('a'), amount: 7, release: 20 }], '{"request_id":"r1"}');
      expect(after).toEqual([17]);
      expect(await store.read([key('a')])).toEqual([{ spend: 17, reserved: 0 }]);
      expect(await subject.usageEvents()).toEqual(['{"request_id":"r1"}']);
    });

    it('settles many requests completing at once, each exactly once, with every usage event recorded', async () => {
      await store.seed(key('a'), 0, END);
      await store.seed(key('b'), 0, END);
      const n = 300;
      for (let i = 0; i < n; i++) await store.reserve(`r${i}`, [bucket(key('a'), 1e9, 10), bucket(key('b'), 1e9, 1)], T0, HOUR);
      const afters = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          store.settle(`r${i}`, [{ key: key('a'), amount: 7, release: 10 }, { key: key('b'), amount: 1, release: 1 }], `e${i}`),
        ),
      );
      expect(new Set(afters.map(([a]) => a)).size).toBe(n); // every settle saw its own step
      expect(await store.read([key('a'), key('b')])).toEqual([{ spend: 7 * n, reserved: 0 }, { spend: n, reserved: 0 }]);
      expect((await subject.usageEvents()).sort()).toEqual(Array.from({ length: n }, (_, i) => `e${i}`).sort());
    });

    it('settles a bucket it no longer knows by leaving it alone, but still records the usage', async () => {
      const after = await store.settle('r1', [{ key: key('gone'), amount: 7, release: 7 }], 'event-1');
      expect(after).toEqual([undefined]);
      expect(await store.read([key('gone')])).toEqual([undefined]);
      expect(await subject.usageEvents()).toEqual(['event-1']);
    });

    it('releases a reservation, once, however often asked', async () => {
      await store.seed(key('a'), 0, END);
      await store.reserve('r1', [bucket(key('a'), 100, 20)], T0, HOUR);
      await store.reserve('r2', [bucket(key('a'), 100, 5)], T0, HOUR);
      await store.release('r1', [key('a')]);
      await store.release('r1', [key('a')]);
      expect(await store.read([key('a')])).toEqual([{ spend: 0, reserved: 5 }]);
    });

    it('expires reservations after their TTL, so a dead replica cannot hold budget forever', async () => {
      await store.seed(key('a'), 0, END);
      await store.reserve('r1', [bucket(key('a'), 30, 30)], T0, HOUR);
      expect((await store.reserve('r2', [bucket(key('a'), 30, 1)], T0 + HOUR - 1, HOUR)).kind).toBe('refused');
      expect(await store.reserve('r3', [bucket(key('a'), 30, 1)], T0 + HOUR, HOUR)).toEqual({
        kind: 'admitted',
        states: [{ spend: 0, reserved: 0 }],
        granted: [1],
      });
      // The expired reservation's late settle still charges the actual cost, once.
      expect(await store.settle('r1', [{ key: key('a'), amount: 4, release: 30 }], 'late')).toEqual([4]);
      expect(await store.read([key('a')])).toEqual([{ spend: 4, reserved: 1 }]);
    });

    it('renews a reservation still held to a later expiry, never an earlier one', async () => {
      await store.seed(key('a'), 0, END);
      await store.seed(key('b'), 0, END);
      await store.reserve('running', [bucket(key('a'), 100, 10), bucket(key('b'), 100, 10)], T0, HOUR);
      await store.reserve('other', [bucket(key('a'), 100, 20)], T0, HOUR);
      await store.renew([{ id: 'running', keys: [key('a'), key('b')] }, { id: 'settled', keys: [key('a')] }], T0 + 3 * HOUR);
      await store.renew([{ id: 'running', keys: [key('a')] }], T0 + 2 * HOUR);
      // At its first expiry only the one not renewed goes.
      await store.reserve('probe1', [bucket(key('a'), 100, 1), bucket(key('b'), 100, 1)], T0 + HOUR, 4 * HOUR);
      expect(await store.read([key('a'), key('b')])).toEqual([{ spend: 0, reserved: 11 }, { spend: 0, reserved: 11 }]);
      await store.reserve('probe2', [bucket(key('a'), 100, 1), bucket(key('b'), 100, 1)], T0 + 2 * HOUR, 4 * HOUR);
      expect(await store.read([key('a'), key('b')])).toEqual([{ spend: 0, reserved: 12 }, { spend: 0, reserved: 12 }]);
      // Then at the renewed expiry.
      await store.reserve('probe3', [bucket(key('a'), 100, 1), bucket(key('b'), 100, 1)], T0 + 3 * HOUR, 4 * HOUR);
      expect(await store.read([key('a'), key('b')])).toEqual([{ spend: 0, reserved: 3 }, { spend: 0, reserved: 3 }]);
    });

    it('expires each reservation at its own time, whatever order they were taken in', async () => {
      const MINUTE = 60_000;
      await store.seed(key('a'), 0, END);
      await store.reserve('long', [bucket(key('a'), 100, 10)], T0, HOUR);
      await store.reserve('short', [bucket(key('a'), 100, 20)], T0 + 1_000, MINUTE);
      await store.reserve('gone', [bucket(key('a'), 100, 40)], T0 + 2_000, MINUTE);
      await store.release('gone', [key('a')]); // settled before it expired: nothing left to expire
      await store.reserve('probe1', [bucket(key('a'), 100, 1)], T0 + MINUTE, HOUR);
      expect(await store.read([key('a')])).toEqual([{ spend: 0, reserved: 31 }]);
      // The short one goes at its expiry; the long one, taken earlier, stays.
      await store.reserve('probe2', [bucket(key('a'), 100, 1)], T0 + 1_000 + MINUTE, HOUR);
      expect(await store.read([key('a')])).toEqual([{ spend: 0, reserved: 12 }]);
      // One taken after that sweep, expiring before the rest, still goes at its own expiry.
      await store.reserve('late', [bucket(key('a'), 100, 50)], T0 + 2 * MINUTE, MINUTE);
      await store.reserve('probe3', [bucket(key('a'), 100, 1)], T0 + 3 * MINUTE, HOUR);
      expect(await store.read([key('a')])).toEqual([{ spend: 0, reserved: 13 }]);
      await store.reserve('probe4', [bucket(key('a'), 100, 1)], T0 + HOUR, HOUR);
      expect(await store.read([key('a')])).toEqual([{ spend: 0, reserved: 4 }]);
    });

    it('seeds a bucket once: a known bucket keeps its counters', async () => {
      await store.seed(key('a'), 10, END);
      await store.reserve('r1', [bucket(key('a'), 100, 5)], T0, HOUR);
      await store.seed(key('a'), 999, END);
      expect(await store.read([key('a')])).toEqual([{ spend: 10, reserved: 5 }]);
    });

    it('grants a lease up to what is wanted while that is at most a quarter of the headroom', async () => {
      await store.seed(key('a'), 0, END);
      const lease = (id: string, line: number, amount: number, wanted: number) =>
        store.reserve(id, [{ ...bucket(key('a'), line, amount), wanted }], T0, HOUR);
      expect(await lease('l1', 1_000, 10, 100)).toMatchObject({ kind: 'admitted', granted: [100] });
      // 900 left: a quarter is 225.
      expect(await lease('l2', 1_000, 10, 400)).toMatchObject({ kind: 'admitted', granted: [225] });
      // 675 left: 168; then near the line the slice shrinks to the one request asking.
      await store.seed(key('b'), 96, END);
      expect(await store.reserve('l3', [{ ...bucket(key('b'), 100, 3), wanted: 30 }], T0, HOUR)).toMatchObject({ granted: [3] });
      expect(await store.reserve('l4', [{ ...bucket(key('b'), 100, 3), wanted: 30 }], T0, HOUR)).toMatchObject({ granted: [3] });
      expect(await store.reserve('l5', [{ ...bucket(key('b'), 100, 3), wanted: 30 }], T0, HOUR)).toMatchObject({ kind: 'refused' });
    });

    it('shrinks a lease by what each of its requests held, on settle or release, and drops the rest when retired', async () => {
      await store.seed(key('a'), 0, END);
      await store.reserve('lease', [{ ...bucket(key('a'), 1_000, 10), wanted: 100 }], T0, HOUR);
      await store.settle('lease', [{ key: key('a'), amount: 12, release: 10 }], 'e1');
      expect(await store.read([key('a')])).toEqual([{ spend: 12, reserved: 90 }]);
      await store.release('lease', [key('a')], [10]); // a request of the lease failed
      expect(await store.read([key('a')])).toEqual([{ spend: 12, reserved: 80 }]);
      await store.release('lease', [key('a')]); // the lease retires
      expect(await store.read([key('a')])).toEqual([{ spend: 12, reserved: 0 }]);
      await store.settle('lease', [{ key: key('a'), amount: 3, release: 10 }], 'e2'); // a straggler
      expect(await store.read([key('a')])).toEqual([{ spend: 15, reserved: 0 }]);
    });

    it('lets exactly as many of 200 simultaneous requests in as the line has room for', async () => {
      await store.seed(key('a'), 0, END);
      const stores = [store, subject.replica?.(), subject.replica?.()].filter((s): s is SpendStore => s !== undefined);
      const outcomes = await Promise.all(
        Array.from({ length: 200 }, (_, i) => stores[i % stores.length]!.reserve(`r${i}`, [bucket(key('a'), 5, 1)], T0, HOUR)),
      );
      expect(outcomes.filter((o) => o.kind === 'admitted')).toHaveLength(5);
      expect(await store.read([key('a')])).toEqual([{ spend: 0, reserved: 5 }]);
    });

    it('replays a settle only into buckets that still hold its reservation (a rebuilt bucket already counts it)', async () => {
      await store.seed(key('kept'), 0, END);
      await store.seed(key('lost'), 0, END);
      await store.reserve('r1', [bucket(key('kept'), 100, 10), bucket(key('lost'), 100, 10)], T0, HOUR);
      // `lost` came back rebuilt from the ledger: no reservations, the spend already counted.
      await store.release('r1', [key('lost')]);
      const after = await store.settle('r1', [{ key: key('kept'), amount: 7, release: 10 }, { key: key('lost'), amount: 7, release: 10 }], 'replayed', { replay: true });
      // Each bucket's spend after the replay: `lost` not charged, as it stands.
      expect(after).toEqual([7, 0]);
      expect(await store.read([key('kept'), key('lost')])).toEqual([{ spend: 7, reserved: 0 }, { spend: 0, reserved: 0 }]);
      // Replayed again (its answer was lost): the reservation is gone, so nothing is charged twice.
      expect(await store.settle('r1', [{ key: key('kept'), amount: 7, release: 10 }], 'replayed', { replay: true })).toEqual([7]);
    });

    it('charges a request admitted without the store once, however often its settle is sent', async () => {
      await store.seed(key('u'), 0, END);
      const generation = await vi.waitFor(() => store.generation() ?? Promise.reject(new Error('not read yet')));
      const charge = [{ key: key('u'), amount: 7, release: 10 }];
      expect(await store.settle('fail-open-1', charge, 'first', { unreserved: { generation } })).toEqual([7]);
      // Its answer was lost, so the settle is replayed: charged already, it is not charged again.
      expect(await store.settle('fail-open-1', charge, 'replayed', { unreserved: { generation }, replay: true })).toEqual([7]);
      // One whose first settle never reached the store is charged by its replay.
      expect(await store.settle('fail-open-2', charge, 'replayed', { unreserved: { generation }, replay: true })).toEqual([14]);
      expect(await store.read([key('u')])).toEqual([{ spend: 14, reserved: 0 }]);
      expect(await subject.usageEvents()).toEqual(expect.arrayContaining(['first', 'replayed']));
    });

    it('applies a settle issued before a release first, so spend + reserved never dips below what was admitted', async () => {
      await store.seed(key('a'), 0, END);
      await store.reserve('lease', [{ ...bucket(key('a'), 100, 11), wanted: 22 }], T0, HOUR);
      // In one tick: the lease's last request settles, the lease retires, the next request asks.
      const settled = store.settle('lease', [{ key: key('a'), amount: 11, release: 11 }], 'last');
      const released = store.release('lease', [key('a')]);
      const next = store.reserve('r2', [bucket(key('a'), 100, 11)], T0, HOUR);
      const [, , outcome] = await Promise.all([settled, released, next]);
      // Had the release gone first, the request would have found neither the spend nor the hold.
      expect(outcome).toMatchObject({ kind: 'admitted', states: [{ spend: 11, reserved: 0 }] });
    });

    it('releases each bucket by its own amount (a failed request held dollars, tokens and one request)', async () => {
      for (const k of ['usd', 'tokens', 'requests']) await store.seed(key(k), 0, END);
      const keys = [key('usd'), key('tokens'), key('requests')];
      await store.reserve('lease', [
        { ...bucket(keys[0]!, 10_000, 50), wanted: 400 },
        { ...bucket(keys[1]!, 10_000, 30), wanted: 240 },
        { ...bucket(keys[2]!, 10_000, 1), wanted: 8 },
      ], T0, HOUR);
      await store.release('lease', keys, [50, 30, 1]);
      expect(await store.read(keys)).toEqual([{ spend: 0, reserved: 350 }, { spend: 0, reserved: 210 }, { spend: 0, reserved: 7 }]);
      await store.release('lease', keys);
      expect(await store.read(keys)).toEqual([{ spend: 0, reserved: 0 }, { spend: 0, reserved: 0 }, { spend: 0, reserved: 0 }]);
    });

    it('holds every line at once when 200 requests of 4 tenants race for one shared cap and their own budgets', async () => {
      await store.seed(key('cap'), 0, END);
      for (let t = 0; t < 4; t++) await store.seed(key(`tenant${t}`), 0, END);
      const stores = [store, subject.replica?.(), subject.replica?.()].filter((s): s is SpendStore => s !== undefined);
      // The cap has room for 6 requests; each tenant's own budget for 2 (8 in all): the cap decides.
      const outcomes = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          stores[i % stores.length]!.reserve(`r${i}`, [bucket(key('cap'), 6, 1), bucket(key(`tenant${i % 4}`), 2, 1)], T0, HOUR),
        ),
      );
      const admitted = outcomes.filter((o) => o.kind === 'admitted');
      expect(admitted).toHaveLength(6);
      const states = await store.read([key('cap'), ...[0, 1, 2, 3].map((t) => key(`tenant${t}`))]);
      expect(states[0]).toEqual({ spend: 0, reserved: 6 });
      // All or nothing: the tenants together hold exactly what the cap holds, none above its own line.
      expect(states.slice(1).reduce((sum, st) => sum + st!.reserved, 0)).toBe(6);
      for (const st of states.slice(1)) expect(st!.reserved).toBeLessThanOrEqual(2);
    });
  });
}

contract('the in-process store', async () => {
  const events: string[] = [];
  return { store: new MemorySpendStore((e) => events.push(e), () => T0), usageEvents: async () => events };
});

const url = redisUrl();
const clients: Redis[] = [];
const prefixes: string[] = [];
afterAll(async () => {
  const [first] = clients;
  for (const prefix of prefixes) {
    const keys = await first!.keys(`${prefix}*`);
    if (keys.length > 0) await first!.del(...keys);
  }
  await Promise.all(clients.map((c) => c.quit()));
});

contract(
  `the Redis store${url ? '' : ' (set TEST_REDIS_URL to run)'}`,
  async () => {
    const prefix = `bgtest:${randomUUID()}:`;
    prefixes.push(prefix);
    const usage = usageStreams(prefix);
    const connect = () => {
      const client = new Redis(url!);
      clients.push(client);
      return new RedisSpendStore(client, { prefix, usage });
    };
    const reader = new Redis(url!);
    clients.push(reader);
    return {
      store: connect(),
      replica: connect,
      usageEvents: async () => (await reader.xrange(usage.stream, '-', '+')).flatMap(([, fields]) => eventsOf(fields)),
    };
  },
  !url,
);
