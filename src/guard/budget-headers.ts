import type { BucketState } from '../budget/spend-store.js';
import { formatUsd } from '../budget/money.js';
import type { Period } from '../budget/period.js';
import type { ScopedBudget, Unit } from '../budget/scopes.js';
import type { BudgetLines, BudgetStatus } from '../budget/thresholds.js';

/**
 * The `x-budget-*` headers of every proxied answer (CONTRACT section 4), as of admission, for one
 * budget: its limit and reset time are formatted once, its spend per call (the budget guard keeps
 * one of these per budget; a settled request moves the spend, not the rest).
 */
export function budgetHeaderWriter(lines: BudgetLines, period: Period): (spendMicros: number, status: BudgetStatus) => Record<string, string> {
  const limit = formatUsd(lines.effectiveMicros);
  const resetAt = new Date(period.endMs).toISOString();
  return (spendMicros, status) => ({
    'x-budget-limit': limit,
    'x-budget-spend': formatUsd(spendMicros),
    'x-budget-remaining': formatUsd(Math.max(0, lines.effectiveMicros - spendMicros)),
    'x-budget-status': status,
    'x-budget-reset-at': resetAt,
  });
}

/** The 402 message: which budget refused, where it stands, and when it resets. */
export function refusalMessage(budget: ScopedBudget, tenantId: string, state: BucketState): string {
  const amount = (n: number) => quantity(budget.unit, n);
  const held = state.reserved > 0 ? ` (plus ${amount(state.reserved)} held by requests in flight)` : '';
  const what = budget.unit === 'usd' ? 'Budget' : budget.unit === 'tokens' ? 'Token budget' : 'Request budget';
  const whose = budget.scope === 'global' ? 'global (all tenants)' : budget.scope === 'tenant' ? `tenant ${tenantId}` : `${budget.scope} of tenant ${tenantId}`;
  return (
    `${what} exceeded (scope: ${whose}): ${amount(state.spend)} used${held} of ${amount(budget.lines.effectiveMicros)}; ` +
    `requests are refused from ${amount(budget.lines.blockLineMicros)}. The budget resets at ${new Date(budget.period.endMs).toISOString()}.`
  );
}

/** An amount in a budget's unit, for people: "$12.5", "12000 tokens", "40 requests". */
export function quantity(unit: Unit, n: number): string {
  return unit === 'usd' ? `$${formatUsd(n)}` : `${n} ${unit}`;
}
