import { formatUsd, microsToUsd } from '../budget/money.js';
import { currentPeriod } from '../budget/period.js';
import { globalScope } from '../budget/scopes.js';
import { queueNotifications, recordAudit } from '../db/audit.js';
import type { Db } from '../db/client.js';
import { rollGlobalPeriod } from '../db/global-budget.js';
import { ledgerTotal } from '../db/ledger.js';
import { globalBudget } from '../db/schema.js';
import { globalLimit } from '../guard/tenant-directory.js';
import type { ResetDeps } from './period-resets.js';

/**
 * The global cap's reset (CONTRACT section 11: "its own period, audit entries and notifications
 * like a tenant's"), run by the budget_reset job. Like a tenant's, the hot path already sees the
 * new period at the boundary; this stores it and writes the records, once (the row lock).
 */
export async function resetGlobalIfDue(db: Db, deps: ResetDeps, nowMs: number, actor: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(globalBudget).for('update');
    if (!row || row.budgetResetAt.getTime() > nowMs) return false;
    const limit = globalLimit(row);
    const next = currentPeriod(limit.period, limit.duration, nowMs, limit.anchorMs);
    const closing = globalScope(limit, next.startMs - 1);
    const [known] = await deps.store.read([closing.key]).catch(() => [undefined]);
    const oldSpend = known?.spend ?? (await ledgerTotal(tx, closing.ledger, 'usd', closing.period));
    await rollGlobalPeriod(tx, row.budgetResetAt, { startedAt: new Date(next.startMs), resetAt: new Date(next.endMs) });
    const details = {
      scope: 'global',
      old_spend: microsToUsd(oldSpend),
      new_budget: microsToUsd(row.maxBudgetMicros),
      reset_date: new Date(next.startMs).toISOString(),
    };
    await recordAudit(tx, { tenantId: null, event: 'budget_reset', actor, details });
    await queueNotifications(tx, {
      event: 'budget_reset',
      tenantId: null,
      message: `The global budget has been reset to $${formatUsd(row.maxBudgetMicros)} for the new period`,
      data: details,
    });
    return true;
  });
}

