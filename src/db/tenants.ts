import { and, asc, eq, gt, isNull, sql } from 'drizzle-orm';
import { parseDuration } from '../budget/duration.js';
import { currentPeriod, replacedPeriod } from '../budget/period.js';
import type { Db } from './client.js';
import { apiKeys, budgetOverrides, tenants, type Tenant } from './schema.js';

/**
 * Tenant configuration rows. Period arithmetic belongs to the budget domain: callers pass the
 * period they computed, these functions only store it. Deleted tenants are soft-deleted and
 * invisible here.
 */

export interface TenantConfig {
  readonly tenantId: string;
  readonly name: string | null;
  readonly maxBudgetMicros: number;
  readonly alertThreshold: number;
  readonly graceThreshold: number;
  readonly budgetDuration: string;
  /** The first period, used only when the tenant is created (or re-created after a delete). */
  readonly firstPeriod: { readonly startedAt: Date; readonly resetAt: Date };
  /** On replace: moves the current period's end when given, else the end stays. */
  readonly budgetResetAt?: Date | undefined;
  /**
   * On replace: the gateway's clock, so a period already over (the reset job not yet run) is
   * rolled forward before a new end or duration applies to it. Without it the stored period is
   * taken as the current one.
   */
  readonly nowMs?: number | undefined;
  /** Write-only secret: undefined keeps the stored one, null clears it. */
  readonly upstreamKey?: string | null | undefined;
  /** Budget scopes (CONTRACT section 11); absent means none. */
  readonly scopes?: TenantScopes | undefined;
}

export interface TenantScopes {
  /** `{model or LiteLLM model group: max budget in micros}`. */
  readonly modelBudgets: Record<string, number> | null;
  readonly maxTokens: number | null;
  readonly maxRequests: number | null;
  /** Percents, ascending; replaces alertThreshold when set. */
  readonly alertThresholds: number[] | null;
}

export interface TenantPage {
  readonly data: Tenant[];
  /** The cursor of the next page; null on the last one. */
  readonly nextCursor: string | null;
}

export async function getTenant(db: Db, tenantId: string): Promise<Tenant | undefined> {
  const [tenant] = await db
    .select()
    .from(tenants)
    .where(and(eq(tenants.tenantId, tenantId), isNull(tenants.deletedAt)));
  return tenant;
}

/**
 * Creates the tenant or replaces its configuration. A replace keeps the current period (and so
 * its spend); a tenant that was deleted comes back as a new one, with a new first period.
 */
export async function upsertTenant(db: Db, config: TenantConfig): Promise<{ created: boolean; tenant: Tenant }> {
  const settings = {
    name: config.name,
    maxBudgetMicros: config.maxBudgetMicros,
    alertThreshold: config.alertThreshold,
    graceThreshold: config.graceThreshold,
    budgetDuration: config.budgetDuration,
    upstreamKey: config.upstreamKey,
    modelBudgets: config.scopes?.modelBudgets ?? null,
    maxTokens: config.scopes?.maxTokens ?? null,
    maxRequests: config.scopes?.maxRequests ?? null,
    alertThresholds: config.scopes?.alertThresholds ?? null,
  };
  return db.transaction(async (tx) => {
    const [current] = await tx.select().from(tenants).where(eq(tenants.tenantId, config.tenantId)).for('update');
    if (current !== undefined && current.deletedAt === null) {
      const [tenant] = await tx
        .update(tenants)
        .set({ ...settings, ...periodOnReplace(current, config), updatedAt: sql`now()` })
        .where(eq(tenants.tenantId, config.tenantId))
        .returning();
      return { created: false, tenant: tenant! };
    }
    const fresh = {
      ...settings,
      upstreamKey: config.upstreamKey ?? null,
      periodStartedAt: config.firstPeriod.startedAt,
      budgetResetAt: config.firstPeriod.resetAt,
      periodAnchorAt: config.firstPeriod.resetAt,
      createdAt: sql`now()`,
      updatedAt: sql`now()`,
      deletedAt: null,
    };
    // The conflict target is a deleted row, or one a concurrent create inserted since the select.
    const [tenant] = await tx
      .insert(tenants)
      .values({ tenantId: config.tenantId, ...fresh })
      .onConflictDoUpdate({ target: tenants.tenantId, set: fresh })
      .returning();
    return { created: true, tenant: tenant! };
  });
}

/** The period columns a replace writes: none unless the end or the duration changes. */
function periodOnReplace(stored: Tenant, config: TenantConfig): Partial<Tenant> {
  const duration = parseDuration(stored.budgetDuration);
  const anchorMs = (stored.periodAnchorAt ?? stored.budgetResetAt).getTime();
  const period = { startMs: stored.periodStartedAt.getTime(), endMs: stored.budgetResetAt.getTime() };
  const current = config.nowMs === undefined ? period : currentPeriod(period, duration, config.nowMs, anchorMs);
  const replaced = replacedPeriod(current, duration, {
    duration: parseDuration(config.budgetDuration),
    resetAtMs: config.budgetResetAt?.getTime(),
  });
  if (replaced === undefined) return {};
  return {
    periodStartedAt: new Date(replaced.period.startMs),
    budgetResetAt: new Date(replaced.period.endMs),
    periodAnchorAt: new Date(replaced.anchorMs),
  };
}

/** Keyset pagination in tenant_id order: stable while tenants are added or deleted between pages. */
export async function listTenants(
  db: Db,
  { limit, cursor }: { limit: number; cursor?: string | undefined },
): Promise<TenantPage> {
  const rows = await db
    .select()
    .from(tenants)
    .where(and(isNull(tenants.deletedAt), cursor === undefined ? undefined : gt(tenants.tenantId, cursor)))
    .orderBy(asc(tenants.tenantId))
    .limit(limit + 1);
  const data = rows.slice(0, limit);
  return { data, nextCursor: rows.length > limit ? data[data.length - 1]!.tenantId : null };
}

/**
 * Soft-deletes the tenant, revokes its keys and ends its override, so re-creating the same tenant
 * id later brings back neither. Returns false when there was no such (live) tenant.
 */
export async function deleteTenant(db: Db, tenantId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const now = sql`now()`;
    const deleted = await tx
      .update(tenants)
      .set({ deletedAt: now, updatedAt: now })
      .where(and(eq(tenants.tenantId, tenantId), isNull(tenants.deletedAt)))
      .returning({ tenantId: tenants.tenantId });
    if (deleted.length === 0) return false;
    await tx
      .update(apiKeys)
      .set({ revokedAt: now })
      .where(and(eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt)));
    await tx
      .update(budgetOverrides)
      .set({ endedAt: now, endReason: 'removed' })
      .where(and(eq(budgetOverrides.tenantId, tenantId), isNull(budgetOverrides.endedAt)));
    return true;
  });
}
