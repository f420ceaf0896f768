import { and, isNull, lte, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { budgetOverrides } from './schema.js';

export interface ExpiredOverride {
  readonly id: string;
  readonly tenantId: string;
  readonly overrideAmountMicros: number;
  readonly expiresAt: Date;
}

/**
 * Ends every open override whose time is up, as of when it expired (not when the job noticed), in
 * one statement. Two runs at once cannot both end one: the second waits for the first's row lock,
 * finds `ended_at` set and leaves the row out, so each expiry is returned (and audited) once.
 */
export async function endExpiredOverrides(tx: Db, now: Date): Promise<ExpiredOverride[]> {
  return tx
    .update(budgetOverrides)
    .set({ endedAt: sql`${budgetOverrides.expiresAt}`, endReason: 'expired' })
    .where(and(isNull(budgetOverrides.endedAt), lte(budgetOverrides.expiresAt, now)))
    .returning({
      id: budgetOverrides.id,
      tenantId: budgetOverrides.tenantId,
      overrideAmountMicros: budgetOverrides.overrideAmountMicros,
      expiresAt: budgetOverrides.expiresAt,
    });
}
