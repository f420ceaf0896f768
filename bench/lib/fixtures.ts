// Databases the enforcing targets start on: each gets one tenant with a budget the bench never
// exhausts and the bench's registered key (plus, for the many-tenants scenario, one more tenant per
// extra key), written before the gateway starts (a PGlite folder has one owner at a time).
// Everything created here is undone by `Cleanups`, newest first.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { parseDuration } from '../../src/budget/duration.js';
import { usdToMicros } from '../../src/budget/money.js';
import { firstPeriod } from '../../src/budget/period.js';
import { openDatabase, type Database } from '../../src/db/client.js';
import { createKey, hashKey } from '../../src/db/keys.js';
import { migrateUp } from '../../src/db/migrate.js';
import { apiKeys, tenants } from '../../src/db/schema.js';
import { upsertTenant } from '../../src/db/tenants.js';
import { BENCH_BUDGET_USD, BENCH_TENANT } from './bench-caller.js';

export { BENCH_BUDGET_USD, BENCH_TENANT } from './bench-caller.js';
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Undo steps, run newest first, each at most once; failures are reported and do not stop the rest. */
export class Cleanups {
  readonly #tasks: { what: string; run: () => Promise<void> }[] = [];
  #running: Promise<void> | undefined;

  add(what: string, run: () => Promise<void>): void {
    this.#tasks.push({ what, run });
  }

  runAll(): Promise<void> {
    this.#running ??= (async () => {
      for (let task = this.#tasks.pop(); task !== undefined; task = this.#tasks.pop()) {
        try {
          await task.run();
        } catch (err) {
          console.error(`[bench] cleanup failed (${task.what}): ${(err as Error).message}`);
        }
      }
    })();
    return this.#running;
  }
}

/** The bench's registered key: forwarded to the upstream unchanged, like a LiteLLM virtual key. */
export function benchKey(): string {
  return `sk-bench-${randomBytes(12).toString('hex')}`;
}

/** `count` more keys, one per extra tenant, for the many-tenants scenario. */
export function manyKeys(count: number): string[] {
  const run = randomBytes(6).toString('hex');
  return Array.from({ length: count }, (_, i) => `sk-bench-${run}-${String(i).padStart(6, '0')}`);
}

async function seedTenant(database: Database, apiKey: string, extraKeys: readonly string[]): Promise<void> {
  await migrateUp(database);
  const budgetDuration = '30d';
  const period = firstPeriod(Date.now(), parseDuration(budgetDuration));
  await upsertTenant(database.db, {
    tenantId: BENCH_TENANT,
    name: 'bench',
    maxBudgetMicros: usdToMicros(BENCH_BUDGET_USD),
    alertThreshold: 80,
    graceThreshold: 110,
    budgetDuration,
    firstPeriod: { startedAt: new Date(period.startMs), resetAt: new Date(period.endMs) },
  });
  await createKey(database.db, BENCH_TENANT, { key: apiKey });
  await seedManyTenants(database, extraKeys, period);
}

const SEED_BATCH = 1_000;

/** Tenant `bench-<i>` with the same budget as `bench`, owning `keys[i]` (registered); bulk inserts. */
async function seedManyTenants(database: Database, keys: readonly string[], period: { startMs: number; endMs: number }): Promise<void> {
  for (let from = 0; from < keys.length; from += SEED_BATCH) {
    const batch = keys.slice(from, from + SEED_BATCH).map((key, j) => ({ key, tenantId: `${BENCH_TENANT}-${from + j}` }));
    await database.db.insert(tenants).values(
      batch.map(({ tenantId }) => ({
        tenantId,
        name: tenantId,
        maxBudgetMicros: usdToMicros(BENCH_BUDGET_USD),
        budgetDuration: '30d',
        periodStartedAt: new Date(period.startMs),
        budgetResetAt: new Date(period.endMs),
        periodAnchorAt: new Date(period.endMs),
      })),
    );
    await database.db.insert(apiKeys).values(
      batch.map(({ key, tenantId }) => ({
        keyId: `key_${tenantId}`,
        tenantId,
        keyHash: hashKey(key),
        prefix: key.slice(0, 10),
        origin: 'registered' as const,
      })),
    );
  }
}

/** A fresh embedded (PGlite) data dir holding the tenant and key; removed on cleanup. */
export async function prepareEmbedded(apiKey: string, cleanups: Cleanups, extraKeys: readonly string[] = []): Promise<{ dataDir: string }> {
  const root = mkdtempSync(join(tmpdir(), 'budget-gateway-bench-'));
  cleanups.add(`remove ${root}`, async () => rmSync(root, { recursive: true, force: true }));
  const dataDir = join(root, 'data');
  const database = await openDatabase({ dataDir });
  try {
    await seedTenant(database, apiKey, extraKeys);
  } finally {
    await database.close();
  }
  return { dataDir };
}

/** PostgreSQL or Redis cannot be reached: the redis target is skipped, not failed. */
export class Unreachable extends Error {
  override readonly name = 'Unreachable';
}

export interface RedisFixture {
  /** BENCH_DATABASE_URL with the fresh schema as search_path (postgres-js `options` parameter). */
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly redisPrefix: string;
  readonly schema: string;
  /** For messages: the URLs without passwords. */
  readonly shown: string;
}

/**
 * A new schema `bench_<random>` on BENCH_DATABASE_URL, migrated, with the tenant and key, and a
 * Redis prefix `bgbench:<random>:`. Cleanup drops the schema and deletes the prefix's keys.
 */
export async function prepareRedis(apiKey: string, cleanups: Cleanups, env: NodeJS.ProcessEnv, extraKeys: readonly string[] = []): Promise<RedisFixture> {
  const baseUrl = env.BENCH_DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
  const redisUrl = env.BENCH_REDIS_URL?.trim() || DEFAULT_REDIS_URL;
  const id = randomBytes(4).toString('hex');
  const schema = `bench_${id}`;
  const redisPrefix = `bgbench:${id}:`;

  const admin = postgres(baseUrl, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await admin`select 1`;
  } catch (err) {
    await admin.end({ timeout: 1 }).catch(() => undefined);
    throw new Unreachable(`PostgreSQL at ${redact(baseUrl)}: ${describe(err)}`);
  }
  cleanups.add(`close the admin connection to ${redact(baseUrl)}`, () => admin.end({ timeout: 5 }));

  const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let cause: unknown; // connect() only says "Connection is closed"; the 'error' event says why
  redis.on('error', (err: unknown) => (cause ??= err));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new Unreachable(`Redis at ${redact(redisUrl)}: ${describe(cause ?? err)}`);
  }
  cleanups.add(`close the Redis connection`, async () => void (await redis.quit()));
  cleanups.add(`delete Redis keys ${redisPrefix}*`, () => deleteKeys(redis, `${redisPrefix}*`));

  // Registered before it exists, so an interrupt during the set-up still removes it.
  cleanups.add(`drop schema ${schema}`, async () => void (await admin.unsafe(`drop schema if exists "${schema}" cascade`)));
  await admin.unsafe(`create schema "${schema}"`);
  const options = encodeURIComponent(`-c search_path=${schema}`);
  const databaseUrl = `${baseUrl}${baseUrl.includes('?') ? '&' : '?'}options=${options}`;
  const database = await openDatabase({ databaseUrl, dataDir: '' });
  try {
    await seedTenant(database, apiKey, extraKeys);
  } finally {
    await database.close();
  }
  return { databaseUrl, redisUrl, redisPrefix, schema, shown: `${redact(baseUrl)} schema ${schema}, ${redact(redisUrl)} prefix ${redisPrefix}` };
}

async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/** The URL with its password masked, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; errors?: unknown };
  const message = typeof e.message === 'string' && e.message !== '' ? e.message : String(err);
  return typeof e.code === 'string' && !message.includes(e.code) ? `${e.code} ${message}` : message;
}
