import { microsToUsd } from '../budget/money.js';
import { globalScope, tenantScopes, type PeriodicLimit } from '../budget/scopes.js';
import type { SpendStore } from '../budget/spend-store.js';
import type { BudgetStatus } from '../budget/thresholds.js';
import type { Db } from '../db/client.js';
import type { BudgetOverride, Tenant } from '../db/schema.js';
import { tenantPolicy } from '../guard/tenant-directory.js';
import { budgetStates, budgetView, type BudgetView } from '../guard/budget-states.js';

/** The tenant view of CONTRACT section 6, plus every budget that applies to it (section 11). */
export interface TenantView {
  readonly tenant_id: string;
  readonly name: string | null;
  readonly max_budget: number;
  readonly alert_threshold: number;
  readonly alert_thresholds: readonly number[] | null;
  readonly grace_threshold: number;
  readonly budget_duration: string;
  readonly budget_reset_at: string;
  readonly period_started_at: string;
  readonly model_budgets: Record<string, { max_budget: number }> | null;
  readonly max_tokens: number | null;
  readonly max_requests: number | null;
  readonly spend: number;
  readonly reserved: number;
  readonly effective_budget: number;
  readonly utilization: number;
  readonly status: BudgetStatus;
  readonly override: OverrideView | null;
  /** The global cap (when set), the tenant's USD, token and request budgets, and its model budgets. */
  readonly budgets: readonly BudgetView[];
}

export interface OverrideView {
  readonly override_amount: number;
  readonly expires_at: string;
  readonly reason: string;
  readonly created_by: string;
  readonly created_at: string;
}

/**
 * Computed the way the hot path computes it (same periods, same lines), so the view never
 * disagrees with the next request's decision.
 */
export async function tenantView(
  deps: { readonly db: Db; readonly store: SpendStore },
  row: Tenant,
  override: BudgetOverride | undefined,
  global: PeriodicLimit | undefined,
  nowMs: number,
): Promise<TenantView> {
  const policy = tenantPolicy(row, override);
  const budgets = [
    ...(global ? [globalScope(global, nowMs)] : []),
    ...tenantScopes(policy, nowMs, Object.keys(policy.modelBudgets ?? {})),
  ];
  const states = await budgetStates(deps, budgets);
  const views = budgets.map((b, i) => budgetView(b, states[i]!));
  const own = views.find((v) => v.scope === 'tenant' && v.unit === 'usd')!;
  const active = override !== undefined && nowMs < override.expiresAt.getTime() ? override : undefined;
  return {
    tenant_id: row.tenantId,
    name: row.name,
    max_budget: microsToUsd(row.maxBudgetMicros),
    alert_threshold: row.alertThreshold,
    alert_thresholds: row.alertThresholds,
    grace_threshold: row.graceThreshold,
    budget_duration: row.budgetDuration,
    budget_reset_at: own.budget_reset_at,
    period_started_at: own.period_started_at,
    model_budgets: row.modelBudgets && Object.fromEntries(Object.entries(row.modelBudgets).map(([m, micros]) => [m, { max_budget: microsToUsd(micros) }])),
    max_tokens: row.maxTokens,
    max_requests: row.maxRequests,
    spend: own.spend,
    reserved: own.reserved,
    effective_budget: own.limit,
    utilization: own.utilization,
    status: own.status,
    override: active ? overrideView(active) : null,
    budgets: views,
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
