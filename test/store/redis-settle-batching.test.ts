import { randomUUID } from 'node:crypto';
import { setImmediate as nextTick } from 'node:timers/promises';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SettleOptions } from '../../src/budget/spend-store.js';
import { eventsOf, usageStreams } from '../../src/ledger/usage-stream.js';
import { RedisSpendStore } from '../../src/store/redis.js';
import { redisUrl } from '../support/services.js';

// How the Redis store turns settles into scripts: the completions of a few milliseconds share
// one, and nothing waiting to settle is overtaken by a release.

const url = redisUrl();
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 1);
const END = T0 + 30 * 24 * HOUR;

describe.skipIf(!url)(`settles gathered into one script${url ? '' : ' (set TEST_REDIS_URL to run)'}`, () => {
  const clients: Redis[] = [];
  const prefixes: string[] = [];
  let client: Redis;
  let prefix: string;
  let store: RedisSpendStore;
  /** How many settle scripts went to Redis, and how many settles each carried. */
  let scripts: number[];

  const open = (settleLingerMs?: number): RedisSpendStore => {
    const s = new RedisSpendStore(client, { prefix, usage: usageStreams(prefix), ...(settleLingerMs === undefined ? {} : { settleLingerMs }) });
    const scriptable = client as unknown as { bgSettle: (...args: (string | number)[]) => Promise<unknown> };
    const original = scriptable.bgSettle.bind(client);
    scriptable.bgSettle = (...args) => {
      const groups = Number(args[4]); // numKeys, stream, count, generation, groups, 5 per group, then 'e' and an event per settle
      scripts.push((args.length - 5 - 5 * groups) / 2);
      return original(...args);
    };
    return s;
  };

  beforeEach(async () => {
    client = new Redis(url!);
    clients.push(client);
    prefix = `bgtest:${randomUUID()}:`;
    prefixes.push(prefix);
    scripts = [];
    store = open();
    await store.seed('t', 0, END);
  });

  afterAll(async () => {
    const cleaner = new Redis(url!);
    for (const p of prefixes) {
      const keys = await cleaner.keys(`${p}*`);
      if (keys.length > 0) await cleaner.del(...keys);
    }
    await Promise.all([cleaner, ...clients].map((c) => c.quit().catch(() => undefined)));
  });

  const admitted = async (n: number): Promise<string[]> => {
    const ids = Array.from({ length: n }, () => randomUUID());
    for (const id of ids) expect((await store.reserve(id, [{ key: 't', blockLine: 1_000_000, amount: 100, periodEndMs: END }], T0, HOUR)).kind).toBe('admitted');
    return ids;
  };
  const settle = (id: string, cost: number) => store.settle(id, [{ key: 't', amount: cost, release: 100 }], `{"request_id":"${id}"}`);

  it('sends the settles of one short stretch, over several ticks, as one script', async () => {
    const ids = await admitted(5);
    const settled: Promise<unknown>[] = [];
    for (const id of ids) {
      settled.push(settle(id, 10));
      await nextTick(); // each completion in a tick of its own, as one request at a time would be
    }
    const after = await Promise.all(settled);
    expect(scripts).toEqual([5]);
    // Every settle still learns the spend its own charge left behind.
    expect(after.map((a) => (a as number[])[0])).toEqual([10, 20, 30, 40, 50]);
    expect(await store.read(['t'])).toEqual([{ spend: 50, reserved: 0 }]);
  });

  it('tells in one script the settles charged, those a replay leaves alone, and buckets unknown', async () => {
    const [a, b, c] = await admitted(3);
    await store.release(b!, ['t']); // b's bucket was rebuilt: its replay is not charged
    const settled = [
      settle(a!, 10),
      store.settle(b!, [{ key: 't', amount: 10, release: 100 }, { key: 'gone', amount: 10, release: 100 }], '{}', { replay: true }),
      settle(c!, 5),
    ];
    const after = await Promise.all(settled);
    expect(scripts).toEqual([3]);
    // The replay reports the spend as it stands in the bucket it left alone, and undefined in the unknown one.
    expect(after).toEqual([[10], [10, undefined], [15]]);
    expect(await store.read(['t', 'gone'])).toEqual([{ spend: 15, reserved: 0 }, undefined]);
  });

  it('keeps the reservation in place while a settle gathers, so it never frees room early', async () => {
    store = open(200);
    const [id] = await admitted(1);
    const settled = settle(id!, 10);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await store.read(['t'])).toEqual([{ spend: 0, reserved: 100 }]);
    await settled;
    expect(await store.read(['t'])).toEqual([{ spend: 10, reserved: 0 }]);
  });

  it('sends what gathered before a release, so a lease’s rest never goes back ahead of its requests', async () => {
    store = open(10_000); // the linger alone would hold the settle for ten seconds
    const [lease] = await admitted(1);
    const settled = settle(lease!, 10);
    await store.release(`${lease}-rest`, ['t']);
    await settled;
    expect(scripts).toEqual([1]);
    expect(await store.read(['t'])).toEqual([{ spend: 10, reserved: 0 }]);
  });

  it('sends a batch’s script at once, not queued in ioredis’ auto-pipeline for the next tick', async () => {
    const piped = new Redis(url!, { enableAutoPipelining: true });
    clients.push(piped);
    const s = new RedisSpendStore(piped, { prefix, usage: usageStreams(prefix), settleLingerMs: 10_000 });
    const [lease] = await admitted(1);
    const settled = s.settle(lease!, [{ key: 't', amount: 10, release: 100 }], '{}');
    const released = s.release(`${lease}-rest`, ['t']); // sends the gathered settle first
    // Only the release waits in the auto-pipeline; the settle's script is on its way already.
    expect(piped.autoPipelineQueueSize).toBe(1);
    await Promise.all([settled, released]);
    expect(await store.read(['t'])).toEqual([{ spend: 10, reserved: 0 }]);
    // Reserves still go through it, so those of one tick share a write.
    const reserving = s.reserve(randomUUID(), [{ key: 't', blockLine: 1_000_000, amount: 1, periodEndMs: END }], T0, HOUR);
    expect(piped.autoPipelineQueueSize).toBe(1);
    expect((await reserving).kind).toBe('admitted');
  });

  it('starts a new script for settles after the linger, and splits a batch at its cap', async () => {
    const first = await admitted(2);
    await settle(first[0]!, 1);
    await settle(first[1]!, 1);
    expect(scripts).toEqual([1, 1]);

    scripts = [];
    const many = await admitted(300);
    await Promise.all(many.map((id) => settle(id, 1)));
    expect(scripts).toEqual([256, 44]);
    expect(await store.read(['t'])).toEqual([{ spend: 302, reserved: 0 }]);
  });

  it('leaves Redis and every settle’s answer exactly as the same settles sent one at a time would', async () => {
    // The script keeps each bucket's state in Lua for the batch and writes it back at the end;
    // settled one by one, every settle reads and writes Redis itself. Leases shared by several
    // settles, reservations used up mid-batch, replays, requests admitted without the store (and
    // their replays, in this generation of the store's data or another) and unknown buckets must
    // all come out alike.
    const buckets = ['k0', 'k1', 'k2']; // k2 is never seeded: unknown
    const ids = ['r0', 'r1', 'r2', 'r3']; // r3 never reserved
    const settleArb = fc.record({
      id: fc.constantFrom(...ids),
      kind: fc.constantFrom('settle', 'replay', 'unreserved', 'unreserved replay', 'unreserved replay of another generation'),
      charges: fc.uniqueArray(fc.record({ key: fc.constantFrom(...buckets), amount: fc.nat(50), release: fc.nat(60) }), { selector: (c) => c.key, minLength: 1, maxLength: 3 }),
    });
    const reservationArb = fc.array(fc.record({ amount: fc.integer({ min: 1, max: 40 }), wanted: fc.integer({ min: 1, max: 200 }) }), { minLength: 3, maxLength: 3 });

    const stateOf = async (p: string) => {
      const state: Record<string, unknown> = {};
      for (const k of buckets) {
        state[k] = await client.hgetall(`${p}${k}`);
        state[`${k}:a`] = await client.hgetall(`${p}${k}:a`);
        state[`${k}:r`] = await client.zrange(`${p}${k}:r`, '0', '-1');
        state[`${k}:u`] = await client.hgetall(`${p}${k}:u`);
      }
      // One stream entry per script, the events in the order settled, and their count beside them.
      state.events = (await client.xrange(usageStreams(p).stream, '-', '+')).flatMap(([, fields]) => eventsOf(fields));
      state.waiting = await client.get(usageStreams(p).count);
      return state;
    };
    const prepare = async (p: string, reservations: { amount: number; wanted: number }[]) => {
      const s = new RedisSpendStore(client, { prefix: p, usage: usageStreams(p), settleLingerMs: 60_000 });
      await s.seed('k0', 5, END);
      await s.seed('k1', 0, END);
      for (const [i, r] of reservations.entries()) {
        const outcome = await s.reserve(ids[i]!, ['k0', 'k1'].map((key) => ({ key, blockLine: 10_000, amount: r.amount, wanted: r.wanted, periodEndMs: END })), T0, HOUR);
        expect(outcome.kind).toBe('admitted');
      }
      await vi.waitFor(() => expect(s.generation()).toBeDefined());
      return s;
    };

    await fc.assert(
      fc.asyncProperty(reservationArb, fc.array(settleArb, { minLength: 1, maxLength: 30 }), async (reservations, settles) => {
        const batched = `${prefix}${randomUUID()}:`;
        const single = `${prefix}${randomUUID()}:`;
        prefixes.push(batched, single);
        const a = await prepare(batched, reservations);
        const b = await prepare(single, reservations);
        const asBatch = settles.map((s, i) => a.settle(s.id, s.charges, `e${i}`, optionsFor(s.kind, a)));
        await a.release('nobody', []); // sends what gathered: one script
        const batchAnswers = await Promise.all(asBatch);
        const singleAnswers = [];
        for (const [i, s] of settles.entries()) {
          const answer = b.settle(s.id, s.charges, `e${i}`, optionsFor(s.kind, b));
          await b.release('nobody', []);
          singleAnswers.push(await answer);
        }
        expect(batchAnswers).toEqual(singleAnswers);
        expect(await stateOf(batched)).toEqual(await stateOf(single));
      }),
      { numRuns: 60 },
    );
  });

  it('charges a request admitted without the store once, and its replay only in the generation it was sent in', async () => {
    const charge = [{ key: 't', amount: 7, release: 100 }];
    const generation = await vi.waitFor(() => store.generation() ?? Promise.reject(new Error('not read yet')));
    // Its first settle ran although its answer was lost: the replay finds it charged (and answers
    // the spend as it stands).
    expect(await store.settle('u1', charge, 'e1', { unreserved: { generation } })).toEqual([7]);
    expect(await store.settle('u1', charge, 'e1', { unreserved: { generation }, replay: true })).toEqual([7]);
    // Never ran (Redis was away): its replay charges it.
    expect(await store.settle('u2', charge, 'e2', { unreserved: { generation }, replay: true })).toEqual([14]);
    // Sent before Redis lost its data (another generation): the rebuilt bucket has it from the ledger.
    expect(await store.settle('u3', charge, 'e3', { unreserved: { generation: 'before' }, replay: true })).toEqual([14]);
    expect(await store.settle('u4', charge, 'e4', { unreserved: { generation: undefined }, replay: true })).toEqual([14]);
    expect(await store.read(['t'])).toEqual([{ spend: 14, reserved: 0 }]);
    // What was charged is remembered no longer than the bucket.
    const check = new Redis(url!);
    clients.push(check);
    expect(await check.pttl(`${prefix}t:u`)).toBeGreaterThan(0);
    expect(Math.abs((await check.pttl(`${prefix}t:u`)) - (await check.pttl(`${prefix}t`)))).toBeLessThan(1_000);
  });

  it('sends what gathered when it closes', async () => {
    store = open(10_000);
    const [id] = await admitted(1);
    const spy = vi.fn();
    const settled = settle(id!, 10).then(spy);
    await store.close();
    await settled;
    expect(spy).toHaveBeenCalledWith([10]);
    const check = new Redis(url!);
    clients.push(check);
    expect(await check.hget(`${prefix}t`, 'spend')).toBe('10');
  });
});

function optionsFor(kind: string, store: RedisSpendStore): SettleOptions {
  switch (kind) {
    case 'replay':
      return { replay: true };
    case 'unreserved':
      return { unreserved: { generation: store.generation() } };
    case 'unreserved replay':
      return { unreserved: { generation: store.generation() }, replay: true };
    case 'unreserved replay of another generation':
      return { unreserved: { generation: 'another' }, replay: true };
    default:
      return {};
  }
}
