import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe } from 'vitest';
import type { UsageStreams } from '../../src/ledger/usage-stream.js';
import { redisUrl } from './services.js';

export type StoreKind = 'memory' | 'redis';

/**
 * Runs a suite against the in-process store and, when TEST_REDIS_URL is set, against Redis; the
 * `env` it hands over configures a gateway for that store (a Redis prefix of its own per suite).
 * Without the URL the Redis variant is reported as skipped, with a title saying how to run it.
 */
export function forEachStore(name: string, fn: (store: { kind: StoreKind; env: () => Record<string, string> }) => void): void {
  describe(`${name} [in-process store]`, () => fn({ kind: 'memory', env: () => ({}) }));
  const url = redisUrl();
  const prefix = `bgtest:${randomUUID()}:`;
  describe.skipIf(!url)(url ? `${name} [redis]` : `${name} [redis] (set TEST_REDIS_URL to run)`, () => {
    afterAll(() => dropKeys(url!, prefix));
    fn({ kind: 'redis', env: () => ({ REDIS_URL: url!, REDIS_PREFIX: prefix }) });
  });
}

/** Test runs share the machine's Redis: each removes what it wrote. */
export async function dropKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    await redis.quit();
  }
}

/**
 * Appends usage events to the usage stream as the settle script does (src/store/lua.ts): `perEntry`
 * events to an entry, their count kept beside the stream.
 */
export async function appendUsage(redis: Redis, streams: Pick<UsageStreams, 'stream' | 'count'>, events: readonly string[], perEntry = 7): Promise<void> {
  for (let at = 0; at < events.length; at += perEntry) {
    const entry = events.slice(at, at + perEntry);
    await redis
      .multi()
      .xadd(streams.stream, '*', ...entry.flatMap((event) => ['e', event]))
      .incrby(streams.count, entry.length)
      .exec();
  }
}
