import { DrizzleQueryError } from 'drizzle-orm/errors';
import { UnstorableValueError } from './copy-binary.js';

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

/** Connection-level failures of either driver: the database is away, not the query wrong. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01', // admin_shutdown
  '57P03', // cannot_connect_now
]);

/** The database could not be reached (so an admin write answers 503, not 500). */
export function isDatabaseUnavailable(err: unknown): boolean {
  const code = sqlState(err);
  return code !== undefined && (UNREACHABLE_CODES.has(code) || code.startsWith('08'));
}

/**
 * The rows themselves were refused, so the same rows would be refused again: a value no column of
 * theirs can hold (`UnstorableValueError`, raised before anything is sent, possibly on the
 * database's thread, where only its name survives), or PostgreSQL's data exceptions (SQLSTATE
 * class 22, e.g. a NUL in text) and integrity violations (class 23, e.g. a missing value) other
 * than a unique key's, which the ledger reads as a replay. Anything else (the database away, out
 * of disk, a lock timeout) may pass, and the rows are retried as they are.
 */
export function isUnwritableRow(err: unknown): boolean {
  if ((driverError(err) as { name?: unknown } | null)?.name === UnstorableValueError.name) return true;
  const code = sqlState(err);
  return code !== undefined && (code.startsWith('22') || (code.startsWith('23') && code !== '23505'));
}
