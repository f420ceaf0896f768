import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { usageStreams } from '../../src/ledger/usage-stream.js';
import { RedisSpendStore } from '../../src/store/redis.js';
import { redisUrl } from '../support/services.js';

// A charge that found its bucket lost, added once the rebuilt bucket is known not to hold it
// (src/guard/late-charges.ts decides that; the store keeps it to once, in the same bucket).

const url = redisUrl();
const END = Date.now() + 3_600_000;

describe.skipIf(!url)(`the Redis store's late charges${url ? '' : ' (set TEST_REDIS_URL to run)'}`, () => {
  const prefixes: string[] = [];
  const client = url ? new Redis(url) : undefined;
  let prefix: string;
  let store: RedisSpendStore;

  beforeEach(() => {
    prefix = `bgtest:${randomUUID()}:`;
    prefixes.push(prefix);
    store = new RedisSpendStore(client!, { prefix, usage: usageStreams(prefix) });
  });

  afterAll(async () => {
    for (const p of prefixes) {
      const keys = await client!.keys(`${p}*`);
      if (keys.length > 0) await client!.del(...keys);
    }
    await client?.quit();
  });

  it('keeps the snapshot a bucket was seeded from, and only the first seed’s', async () => {
    await store.seed('t', 5, END, '10:12:11');
    expect(await store.seededFrom('t')).toBe('10:12:11');
    await store.seed('t', 9, END, '20:20:');
    expect(await store.seededFrom('t')).toBe('10:12:11');
    expect(await store.read(['t'])).toEqual([{ spend: 5, reserved: 0 }]);
    await store.seed('plain', 0, END);
    expect(await store.seededFrom('plain')).toBeUndefined();
    expect(await store.seededFrom('unknown')).toBeUndefined();
  });

  it('charges a request once, and only into the bucket seeded from that snapshot', async () => {
    await store.seed('t', 5, END, '10:12:11');
    expect(await store.lateCharge('t', 'r1', 7, '10:12:11')).toBe('charged');
    expect(await store.lateCharge('t', 'r1', 7, '10:12:11')).toBe('charged-before');
    expect(await store.lateCharge('t', 'r2', 3, '10:12:11')).toBe('charged');
    expect(await store.read(['t'])).toEqual([{ spend: 15, reserved: 0 }]);
    // Seeded from another snapshot (lost and rebuilt again), or not known at all: nothing charged.
    expect(await store.lateCharge('t', 'r3', 3, '9:9:')).toBe('seeded-anew');
    expect(await store.lateCharge('gone', 'r1', 3, '10:12:11')).toBe('seeded-anew');
    expect(await store.read(['t', 'gone'])).toEqual([{ spend: 15, reserved: 0 }, undefined]);
    // What was charged is remembered as long as the bucket.
    expect(Math.abs((await client!.pttl(`${prefix}t:c`)) - (await client!.pttl(`${prefix}t`)))).toBeLessThan(1_000);
  });
});
