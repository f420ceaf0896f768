import { and, eq, isNull, lte, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { auditLog, notificationOutbox, tenants } from './schema.js';

/**
 * Period rows for budget resets (the reset job and a manual reset). The new periods are computed
 * by the budget domain; these functions lock the tenants that need one and record the resets, a
 * batch at a time in one statement each.
 */

/** What a reset needs to know about a tenant. */
export interface PeriodRow {
  readonly tenantId: string;
  readonly maxBudgetMicros: number;
  readonly budgetDuration: string;
  readonly periodStartedAt: Date;
  readonly budgetResetAt: Date;
  /** Null on rows written before the anchor existed: the grid starts at budget_reset_at. */
  readonly periodAnchorAt: Date | null;
}

const periodColumns = {
  tenantId: tenants.tenantId,
  maxBudgetMicros: tenants.maxBudgetMicros,
  budgetDuration: tenants.budgetDuration,
  periodStartedAt: tenants.periodStartedAt,
  budgetResetAt: tenants.budgetResetAt,
  periodAnchorAt: tenants.periodAnchorAt,
};

/**
 * Locks up to `limit` live tenants whose period ended by `now` (`tenants_due_idx`), leaving out
 * `skipping` (tenants whose batch failed earlier in this run). Rows another transaction holds are
 * skipped, not waited for: overlapping runs on two replicas split the due tenants between them,
 * and once a run commits, its tenants are no longer due, so none is rolled twice.
 */
export async function claimDueTenants(tx: Db, now: Date, limit: number, skipping: readonly string[]): Promise<PeriodRow[]> {
  return tx
    .select(periodColumns)
    .from(tenants)
    .where(
      and(
        isNull(tenants.deletedAt),
        lte(tenants.budgetResetAt, now),
        skipping.length === 0
          ? undefined
          : sql`${tenants.tenantId} not in (select jsonb_array_elements_text(${JSON.stringify(skipping)}::jsonb))`,
      ),
    )
    .limit(limit)
    .for('update', { skipLocked: true });
}

/** Locks one live tenant for a manual reset; undefined when there is none. */
export async function lockTenantPeriod(tx: Db, tenantId: string): Promise<PeriodRow | undefined> {
  const [row] = await tx
    .select(periodColumns)
    .from(tenants)
    .where(and(eq(tenants.tenantId, tenantId), isNull(tenants.deletedAt)))
    .for('update');
  return row;
}

/** One tenant's reset as the database records it; amounts in USD, as the audit log shows them. */
export interface ResetRecord {
  readonly tenantId: string;
  /** The new period. */
  readonly startedAt: Date;
  readonly resetAt: Date;
  readonly oldSpendUsd: number;
  readonly newBudgetUsd: number;
  /** The notification's text. */
  readonly message: string;
}

/**
 * Stores a batch of resets in one statement: the new periods, a `budget_reset` audit entry
 * (details `old_spend`, `new_budget`, `reset_date`: CONTRACT section 6) and a `budget_reset`
 * notification per tenant. The batch goes in as one compact JSON parameter and PostgreSQL builds
 * the rows from it: building, sending and parsing a JSON document per audit entry and notification
 * took a third of the job's time over 100,000 tenants (bench/reset-job.ts). The grid stays where
 * it was: a row without an anchor gets its old `budget_reset_at` as one (the right-hand side of
 * SET reads the row before the update), since that column is about to move.
 */
export async function recordResets(tx: Db, resets: readonly ResetRecord[], actor: string): Promise<void> {
  if (resets.length === 0) return;
  const batch = JSON.stringify(
    resets.map((r) => ({
      tenant_id: r.tenantId,
      started_at: r.startedAt.toISOString(),
      reset_at: r.resetAt.toISOString(),
      old_spend: r.oldSpendUsd,
      new_budget: r.newBudgetUsd,
      message: r.message,
    })),
  );
  await tx.execute(sql`with batch as materialized (
      select * from json_to_recordset(${batch}::json)
        as b(tenant_id text, started_at text, reset_at text, old_spend numeric, new_budget numeric, message text)
    ), rolled as (
      update ${tenants} as t
      set period_started_at = b.started_at::timestamptz,
          budget_reset_at = b.reset_at::timestamptz,
          period_anchor_at = coalesce(t.period_anchor_at, t.budget_reset_at)
      from batch as b
      where t.tenant_id = b.tenant_id
    ), audited as (
      insert into ${auditLog} (tenant_id, event, actor, details)
      select tenant_id, 'budget_reset', ${actor},
        jsonb_build_object('old_spend', old_spend, 'new_budget', new_budget, 'reset_date', started_at)
      from batch
    )
    insert into ${notificationOutbox} (event, tenant_id, message, data)
    select 'budget_reset', tenant_id, message,
      jsonb_build_object('old_spend', old_spend, 'new_budget', new_budget, 'reset_date', started_at, 'budget_reset_at', reset_at)
    from batch`);
}
