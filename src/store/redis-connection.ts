import type { RedisOptions } from 'ioredis';

/**
 * How the gateway connects to Redis. Commands fail fast while Redis is away (no offline queue, a
 * bounded timeout), so admission can apply BUDGET_FAIL_MODE at once instead of hanging requests;
 * the client keeps reconnecting.
 */
export const REQUEST_PATH_REDIS: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 1_000,
  connectTimeout: 2_000,
  retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  // Reserves and settles issued in the same tick leave in one write.
  enableAutoPipelining: true,
};

/**
 * The ledger consumer's own connection: XREADGROUP BLOCK holds it while it waits, longer than a
 * command timeout, and its commands may wait for Redis to come back (nobody is waiting on them).
 */
export const LEDGER_READER_REDIS: RedisOptions = {
  ...REQUEST_PATH_REDIS,
  lazyConnect: false,
  enableOfflineQueue: true,
  commandTimeout: undefined,
};
