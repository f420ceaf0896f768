import { microsToUsd } from '../budget/money.js';
import { effectiveBudget } from '../budget/override.js';
import { currentPeriod } from '../budget/period.js';
import { tenantBucketKey, type BucketState, type SpendStore } from '../budget/spend-store.js';
import { budgetLines, statusOf, utilization, type BudgetStatus } from '../budget/thresholds.js';
import type { Db } from '../db/client.js';
import { periodSpend } from '../db/ledger.js';
import type { BudgetOverride, Tenant } from '../db/schema.js';
import { tenantPolicy } from '../guard/tenant-directory.js';

/** The tenant view of CONTRACT section 6: configuration plus where the current period stands. */
export interface TenantView {
  readonly tenant_id: string;
  readonly name: string | null;
  readonly max_budget: number;
  readonly alert_threshold: number;
  readonly grace_threshold: number;
  readonly budget_duration: string;
  readonly budget_reset_at: string;
  readonly period_started_at: string;
  readonly spend: number;
  readonly reserved: number;
  readonly effective_budget: number;
  readonly utilization: number;
  readonly status: BudgetStatus;
  readonly override: OverrideView | null;
}

export interface OverrideView {
  readonly override_amount: number;
  readonly expires_at: string;
  readonly reason: string;
  readonly created_by: string;
  readonly created_at: string;
}

/**
 * Computed the way the hot path computes it (same period, same lines), so the view never
 * disagrees with the next request's decision. Spend comes from the store, or from the ledger
 * when the store does not know the period (or is away).
 */
export async function tenantView(
  deps: { readonly db: Db; readonly store: SpendStore },
  row: Tenant,
  override: BudgetOverride | undefined,
  nowMs: number,
): Promise<TenantView> {
  const policy = tenantPolicy(row, override);
  const period = currentPeriod(policy.period, policy.duration, nowMs, policy.anchorMs);
  const effective = effectiveBudget(policy.maxBudgetMicros, policy.override, nowMs);
  const lines = budgetLines(effective, policy.alertThreshold, policy.graceThreshold);
  const state = await spendOf(deps, row.tenantId, period.startMs);
  const active = override !== undefined && nowMs < override.expiresAt.getTime() ? override : undefined;
  return {
    tenant_id: row.tenantId,
    name: row.name,
    max_budget: microsToUsd(row.maxBudgetMicros),
    alert_threshold: row.alertThreshold,
    grace_threshold: row.graceThreshold,
    budget_duration: row.budgetDuration,
    budget_reset_at: new Date(period.endMs).toISOString(),
    period_started_at: new Date(period.startMs).toISOString(),
    spend: microsToUsd(state.spend),
    reserved: microsToUsd(state.reserved),
    effective_budget: microsToUsd(effective),
    utilization: utilization(state.spend, effective),
    status: statusOf(state.spend, lines),
    override: active ? overrideView(active) : null,
  };
}

export function overrideView(override: BudgetOverride): OverrideView {
  return {
    override_amount: microsToUsd(override.overrideAmountMicros),
    expires_at: override.expiresAt.toISOString(),
    reason: override.reason,
    created_by: override.createdBy,
    created_at: override.createdAt.toISOString(),
  };
}

async function spendOf(deps: { readonly db: Db; readonly store: SpendStore }, tenantId: string, periodStartMs: number): Promise<BucketState> {
  const [state] = await deps.store.read([tenantBucketKey(tenantId, periodStartMs)]).catch(() => [undefined]);
  if (state) return state;
  const spent = await periodSpend(deps.db, tenantId, new Date(periodStartMs));
  return { spend: spent.costMicros, reserved: 0 };
}
