import { isIP } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';

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

/**
 * A connection to `url` with `options`, the one place the gateway makes them. ioredis opens a
 * `rediss://` connection without naming the server for TLS (SNI), and proxies in front of managed
 * Redis services may route by that name: the URL's host name is given (an IP address is not a
 * name, and is left out, as TLS wants). Connections made from this one (`duplicate`) keep it.
 */
export function openRedis(url: string, options: RedisOptions): Redis {
  const { protocol, hostname } = new URL(url);
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  return new Redis(url, protocol === 'rediss:' && isIP(host) === 0 ? { ...options, tls: { servername: host } } : options);
}
