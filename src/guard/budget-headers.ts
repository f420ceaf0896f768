import type { BucketState } from '../budget/spend-store.js';
import { formatUsd } from '../budget/money.js';
import type { Period } from '../budget/period.js';
import type { BudgetLines, BudgetStatus } from '../budget/thresholds.js';

/** The `x-budget-*` headers of every proxied answer (CONTRACT section 4), as of admission. */
export function budgetHeaders(lines: BudgetLines, spendMicros: number, status: BudgetStatus, period: Period): Record<string, string> {
  return {
    'x-budget-limit': formatUsd(lines.effectiveMicros),
    'x-budget-spend': formatUsd(spendMicros),
    'x-budget-remaining': formatUsd(Math.max(0, lines.effectiveMicros - spendMicros)),
    'x-budget-status': status,
    'x-budget-reset-at': new Date(period.endMs).toISOString(),
  };
}

/** The 402 message: which scope refused, where it stands, and when it resets. */
export function refusalMessage(scope: string, id: string, lines: BudgetLines, state: BucketState, period: Period): string {
  const held = state.reserved > 0 ? ` (plus $${formatUsd(state.reserved)} held by requests in flight)` : '';
  return (
    `Budget exceeded (scope: ${scope} ${id}): $${formatUsd(state.spend)} spent${held} of a $${formatUsd(lines.effectiveMicros)} budget; ` +
    `requests are refused from $${formatUsd(lines.blockLineMicros)}. The budget resets at ${new Date(period.endMs).toISOString()}.`
  );
}
