import { microsToUsd } from '../budget/money.js';
import type { ScopedBudget } from '../budget/scopes.js';
import type { BucketState, SpendStore } from '../budget/spend-store.js';
import { statusOf, utilization, type BudgetStatus } from '../budget/thresholds.js';
import type { Db } from '../db/client.js';
import { ledgerTotal } from '../db/ledger.js';

/** One budget as the admin API shows it (CONTRACT section 11: every scope's spend, limit, utilization and status). */
export interface BudgetView {
  readonly scope: string;
  readonly unit: ScopedBudget['unit'];
  /** USD for `usd`, a count for tokens and requests. */
  readonly limit: number;
  readonly spend: number;
  readonly reserved: number;
  readonly utilization: number;
  readonly status: BudgetStatus;
  readonly period_started_at: string;
  readonly budget_reset_at: string;
}

/**
 * Where each budget stands: the store's counters, or the ledger's totals where the store does
 * not know the bucket (a period nobody has spent in yet, a store that restarted, or is away).
 */
export async function budgetStates(deps: { readonly db: Db; readonly store: SpendStore }, budgets: readonly ScopedBudget[]): Promise<BucketState[]> {
  const known = await deps.store.read(budgets.map((b) => b.key)).catch(() => budgets.map(() => undefined));
  return Promise.all(
    budgets.map(async (b, i) => known[i] ?? { spend: await ledgerTotal(deps.db, b.ledger, b.unit, b.period), reserved: 0 }),
  );
}

export function budgetView(budget: ScopedBudget, state: BucketState): BudgetView {
  const amount = (n: number) => (budget.unit === 'usd' ? microsToUsd(n) : n);
  return {
    scope: budget.scope,
    unit: budget.unit,
    limit: amount(budget.lines.effectiveMicros),
    spend: amount(state.spend),
    reserved: amount(state.reserved),
    utilization: utilization(state.spend, budget.lines.effectiveMicros),
    status: statusOf(state.spend, budget.lines),
    period_started_at: new Date(budget.period.startMs).toISOString(),
    budget_reset_at: new Date(budget.period.endMs).toISOString(),
  };
}
