import { DrizzleQueryError } from 'drizzle-orm/errors';

/**
 * drizzle wraps every failed query in a DrizzleQueryError whose message is the SQL; the
 * driver's own error (postgres-js or PGlite, both with the SQLSTATE in `code`) is its cause.
 */

export function driverError(err: unknown): unknown {
  return err instanceof DrizzleQueryError && err.cause !== undefined ? err.cause : err;
}

export function sqlState(err: unknown): string | undefined {
  const cause = driverError(err);
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** A unique constraint refused the row, e.g. a second open override for a tenant. */
export function isUniqueViolation(err: unknown): boolean {
  return sqlState(err) === '23505';
}
