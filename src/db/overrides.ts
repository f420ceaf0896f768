import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Db } from './client.js';
import { budgetOverrides, type BudgetOverride } from './schema.js';

/**
 * An override is active while `now < expires_at`, whether or not the expiry job has ended it yet
 * (CONTRACT section 3); the partial unique index guarantees at most one open override per tenant.
 */
export async function activeOverride(db: Db, tenantId: string, now: Date): Promise<BudgetOverride | undefined> {
  const [override] = await db
    .select()
    .from(budgetOverrides)
    .where(
      and(eq(budgetOverrides.tenantId, tenantId), isNull(budgetOverrides.endedAt), gt(budgetOverrides.expiresAt, now)),
    );
  return override;
}
