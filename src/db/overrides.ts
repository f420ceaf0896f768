import { and, eq, gt, inArray, isNull } from 'drizzle-orm';
import type { Db } from './client.js';
import { isUniqueViolation } from './errors.js';
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

/** The active overrides of several tenants at once (a page of tenant views), by tenant. */
export async function activeOverrides(db: Db, tenantIds: readonly string[], now: Date): Promise<Map<string, BudgetOverride>> {
  if (tenantIds.length === 0) return new Map();
  const rows = await db
    .select()
    .from(budgetOverrides)
    .where(and(inArray(budgetOverrides.tenantId, [...tenantIds]), isNull(budgetOverrides.endedAt), gt(budgetOverrides.expiresAt, now)));
  return new Map(rows.map((row) => [row.tenantId, row]));
}

export interface OverrideGrant {
  readonly tenantId: string;
  readonly amountMicros: number;
  readonly expiresAt: Date;
  readonly reason: string;
  readonly createdBy: string;
  readonly now: Date;
  /** End an active override instead of refusing. */
  readonly replace: boolean;
}

export type GrantOutcome =
  | {
      readonly kind: 'granted';
      readonly override: BudgetOverride;
      /** The active override this grant replaced (`?replace=true`). */
      readonly replaced: BudgetOverride | undefined;
      /** An open override that had expired before the clean-up job ended it; ended now, as of its expiry. */
      readonly expired: BudgetOverride | undefined;
    }
  | { readonly kind: 'active'; readonly active: BudgetOverride };

/**
 * Opens a new override. An open one that already expired (the clean-up job has not run yet) is
 * ended as expired; an active one is refused unless `replace`. Two admins granting at once: the
 * unique index lets one in and the other is told an override is active.
 */
export async function grantOverride(db: Db, grant: OverrideGrant): Promise<GrantOutcome> {
  try {
    return await db.transaction(async (tx) => {
      const [open] = await tx
        .select()
        .from(budgetOverrides)
        .where(and(eq(budgetOverrides.tenantId, grant.tenantId), isNull(budgetOverrides.endedAt)))
        .for('update');
      const active = open !== undefined && open.expiresAt > grant.now;
      if (open && active && !grant.replace) return { kind: 'active', active: open };
      if (open) {
        await tx
          .update(budgetOverrides)
          .set(active ? { endedAt: grant.now, endReason: 'replaced' } : { endedAt: open.expiresAt, endReason: 'expired' })
          .where(eq(budgetOverrides.id, open.id));
      }
      const [override] = await tx
        .insert(budgetOverrides)
        .values({
          tenantId: grant.tenantId,
          overrideAmountMicros: grant.amountMicros,
          expiresAt: grant.expiresAt,
          reason: grant.reason,
          createdBy: grant.createdBy,
          createdAt: grant.now,
        })
        .returning();
      return { kind: 'granted', override: override!, replaced: active ? open : undefined, expired: active ? undefined : open };
    });
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const active = await activeOverride(db, grant.tenantId, grant.now);
    if (active) return { kind: 'active', active };
    throw err;
  }
}

/** Ends the tenant's active override; returns it, or undefined when there was none. */
export async function removeOverride(db: Db, tenantId: string, now: Date): Promise<BudgetOverride | undefined> {
  const [removed] = await db
    .update(budgetOverrides)
    .set({ endedAt: now, endReason: 'removed' })
    .where(and(eq(budgetOverrides.tenantId, tenantId), isNull(budgetOverrides.endedAt), gt(budgetOverrides.expiresAt, now)))
    .returning();
  return removed;
}
