import type { Duration } from './duration.js';
import { effectiveBudget, type Override } from './override.js';
import { currentPeriod, type Period } from './period.js';
import { budgetLines, statusOf, type BudgetLines, type BudgetStatus } from './thresholds.js';

/**
 * Budget scopes (CONTRACT section 11): every budget that applies to a request, as a list the
 * store checks all-or-nothing. Pure: the caller hands in configuration and the time, and gets
 * back each budget's bucket key, lines and period.
 */

export type Unit = 'usd' | 'tokens' | 'requests';

/** One budget a request is checked against and charged to. */
export interface ScopedBudget {
  /** `global`, `tenant`, `model:<name>` or `key:<key_id>` (the x-budget-scope header). */
  readonly scope: string;
  readonly unit: Unit;
  /** The store bucket: scope, period and unit in one key, so a new period is a new bucket. */
  readonly key: string;
  /** Lines in the bucket's unit (micro-dollars, tokens or requests); alert = the lowest threshold. */
  readonly lines: BudgetLines;
  /** Percents, ascending: one `budget_alert` per threshold per period. */
  readonly alertThresholds: readonly number[];
  readonly graceThreshold: number;
  readonly period: Period;
  /** Where its spend comes from when the store has lost the bucket. */
  readonly ledger: LedgerScope;
}

/** The ledger rows a bucket sums over. */
export type LedgerScope =
  | { readonly kind: 'global' }
  | { readonly kind: 'tenant'; readonly tenantId: string }
  | { readonly kind: 'model'; readonly tenantId: string; readonly model: string }
  | { readonly kind: 'key'; readonly tenantId: string; readonly keyId: string };

/** A budget's configuration on its own period grid (the tenant's, or the global one). */
export interface PeriodicLimit {
  readonly maxBudgetMicros: number;
  readonly alertThresholds: readonly number[];
  readonly graceThreshold: number;
  /** The period as stored; requests roll it forward themselves at the boundary. */
  readonly period: Period;
  readonly duration: Duration;
  readonly anchorMs: number;
}

export interface TenantLimits extends PeriodicLimit {
  readonly tenantId: string;
  readonly override: Override | undefined;
  /** `{model or LiteLLM model group: max budget in micros}`. */
  readonly modelBudgets: Readonly<Record<string, number>> | null;
  readonly maxTokens: number | null;
  readonly maxRequests: number | null;
}

export interface ScopeRequest {
  readonly tenant: TenantLimits;
  readonly global: PeriodicLimit | undefined;
  readonly keyId: string;
  readonly keyBudgetMicros: number | null;
  readonly model: string | undefined;
  readonly nowMs: number;
}

/** Global first, then the tenant's own, then model and key: the order refusals are reported in. */
export function budgetsFor(request: ScopeRequest): ScopedBudget[] {
  const { tenant, nowMs } = request;
  return [
    ...(request.global ? [globalScope(request.global, nowMs)] : []),
    ...tenantScopes(tenant, nowMs, request.model === undefined ? [] : [request.model]),
    ...(request.keyBudgetMicros === null ? [] : [keyScope(tenant, request.keyId, request.keyBudgetMicros, nowMs)]),
  ];
}

/** The system-wide cap in its current period. */
export function globalScope(global: PeriodicLimit, nowMs: number): ScopedBudget {
  const period = currentPeriod(global.period, global.duration, nowMs, global.anchorMs);
  return scoped('global', 'usd', `global:${period.startMs}:usd`, global.maxBudgetMicros, global, period, { kind: 'global' });
}

/** The tenant's USD budget, its token and request limits, and the budgets of `models` it has one for. */
export function tenantScopes(tenant: TenantLimits, nowMs: number, models: readonly string[]): ScopedBudget[] {
  const period = currentPeriod(tenant.period, tenant.duration, nowMs, tenant.anchorMs);
  const own = { kind: 'tenant', tenantId: tenant.tenantId } as const;
  const budgets = [
    scoped('tenant', 'usd', tenantBucket(tenant.tenantId, period.startMs, 'usd'), effectiveBudget(tenant.maxBudgetMicros, tenant.override, nowMs), tenant, period, own),
  ];
  if (tenant.maxTokens !== null) {
    budgets.push(scoped('tenant', 'tokens', tenantBucket(tenant.tenantId, period.startMs, 'tokens'), tenant.maxTokens, tenant, period, own));
  }
  if (tenant.maxRequests !== null) {
    budgets.push(scoped('tenant', 'requests', tenantBucket(tenant.tenantId, period.startMs, 'requests'), tenant.maxRequests, tenant, period, own));
  }
  for (const model of models) {
    const limit = tenant.modelBudgets?.[model];
    if (limit === undefined) continue;
    const key = `model:${JSON.stringify([tenant.tenantId, model])}:${period.startMs}:usd`;
    budgets.push(scoped(`model:${model}`, 'usd', key, limit, tenant, period, { kind: 'model', tenantId: tenant.tenantId, model }));
  }
  return budgets;
}

/** A key's own budget, in its tenant's period and with its tenant's thresholds. */
export function keyScope(tenant: TenantLimits, keyId: string, maxBudgetMicros: number, nowMs: number): ScopedBudget {
  const period = currentPeriod(tenant.period, tenant.duration, nowMs, tenant.anchorMs);
  return scoped(`key:${keyId}`, 'usd', `key:${keyId}:${period.startMs}:usd`, maxBudgetMicros, tenant, period, { kind: 'key', tenantId: tenant.tenantId, keyId });
}

/** The key of a tenant's bucket for the period starting at `periodStartMs`. */
export function tenantBucket(tenantId: string, periodStartMs: number, unit: Unit): string {
  return `tenant:${tenantId}:${periodStartMs}:${unit}`;
}

/** What a request holds in each budget: its estimate in the budget's unit. */
export function amountsFor(budgets: readonly ScopedBudget[], estimate: { micros: number; tokens: number }): number[] {
  return budgets.map((b) => (b.unit === 'usd' ? estimate.micros : b.unit === 'tokens' ? Math.max(1, estimate.tokens) : 1));
}

/**
 * The budget the `x-budget-*` headers describe (CONTRACT section 11, "the tightest scope"): the
 * USD budget with the least room left before its block line, the one that refuses first, so an
 * unused $0.01 model budget is tighter than an unused $100 tenant budget; the first of equals,
 * so the tenant's own wins a tie with a model's.
 */
export function tightest(budgets: readonly ScopedBudget[], spends: readonly number[]): number {
  let best = -1;
  let bestRoom = Number.POSITIVE_INFINITY;
  for (let i = 0; i < budgets.length; i++) {
    const b = budgets[i]!;
    if (b.unit !== 'usd') continue;
    const room = b.lines.blockLineMicros - spends[i]!;
    if (room < bestRoom) [best, bestRoom] = [i, room];
  }
  return best;
}

/** The status of a request's budgets together: the worst of them. */
export function overallStatus(budgets: readonly ScopedBudget[], spends: readonly number[]): BudgetStatus {
  const order: BudgetStatus[] = ['ok', 'alert', 'grace', 'blocked'];
  return budgets.reduce<BudgetStatus>((worst, b, i) => {
    const status = statusOf(spends[i]!, b.lines);
    return order.indexOf(status) > order.indexOf(worst) ? status : worst;
  }, 'ok');
}

/** The 402 code of a refusal by a budget of this unit (CONTRACT section 11). */
export function refusalCode(unit: Unit): 'budget_exceeded' | 'token_budget_exceeded' | 'request_budget_exceeded' {
  return unit === 'usd' ? 'budget_exceeded' : unit === 'tokens' ? 'token_budget_exceeded' : 'request_budget_exceeded';
}

/** The alert thresholds reached at `spend`, ascending. */
export function thresholdsReached(budget: ScopedBudget, spend: number): number[] {
  if (budget.lines.effectiveMicros === 0) return [...budget.alertThresholds];
  return budget.alertThresholds.filter((t) => spend >= budgetLines(budget.lines.effectiveMicros, t, budget.graceThreshold).alertLineMicros);
}

function scoped(
  scope: string,
  unit: Unit,
  key: string,
  limit: number,
  thresholds: { readonly alertThresholds: readonly number[]; readonly graceThreshold: number },
  period: Period,
  ledger: LedgerScope,
): ScopedBudget {
  const lowest = thresholds.alertThresholds[0]!;
  return {
    scope,
    unit,
    key,
    lines: budgetLines(limit, lowest, thresholds.graceThreshold),
    alertThresholds: thresholds.alertThresholds,
    graceThreshold: thresholds.graceThreshold,
    period,
    ledger,
  };
}
