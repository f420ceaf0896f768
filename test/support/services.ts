/**
 * Real services for integration tests. `.ci/run` sets TEST_REDIS_URL and TEST_DATABASE_URL and
 * checks they answer; a plain `npm test` without them runs the embedded variants and names the
 * suites it skipped.
 */
export function redisUrl(): string | undefined {
  return process.env.TEST_REDIS_URL || undefined;
}

export function databaseUrl(): string | undefined {
  return process.env.TEST_DATABASE_URL || undefined;
}
