import type { z } from 'zod';
import { parseDuration } from '../budget/duration.js';
import { microsToUsd } from '../budget/money.js';
import { firstPeriod } from '../budget/period.js';
import { globalScope } from '../budget/scopes.js';
import { recordAudit } from '../db/audit.js';
import { deleteGlobalBudget, getGlobalBudget, putGlobalBudget } from '../db/global-budget.js';
import type { GlobalBudget } from '../db/schema.js';
import { GatewayError } from '../errors.js';
import { globalLimit } from '../guard/tenant-directory.js';
import { budgetStates, budgetView, type BudgetView } from '../guard/budget-states.js';
import { invalidate, type AdminContext } from './context.js';
import type { globalBody } from './validation.js';

/**
 * The global cap (CONTRACT section 11): all tenants together, on its own period. Set, replaced
 * and removed like a tenant's budget, audited (`global_budget_set`, `global_budget_removed`,
 * tenant_id null) and published to every replica before the answer.
 */

export type GlobalInput = z.output<typeof globalBody>;

export interface GlobalView extends BudgetView {
  readonly max_budget: number;
  readonly budget_duration: string;
  readonly alert_threshold: number;
  readonly alert_thresholds: readonly number[] | null;
  readonly grace_threshold: number;
}

export async function showGlobal(ctx: AdminContext): Promise<GlobalView> {
  const row = await getGlobalBudget(ctx.db);
  if (!row) throw noGlobal();
  return globalView(ctx, row);
}

export async function putGlobal(ctx: AdminContext, input: GlobalInput, actor: string): Promise<{ created: boolean; view: GlobalView }> {
  const nowMs = ctx.now();
  const budgetDuration = input.budget_duration ?? '1mo';
  const period = firstPeriod(nowMs, parseDuration(budgetDuration));
  const config = {
    maxBudgetMicros: input.max_budget,
    alertThreshold: input.alert_threshold ?? 80,
    alertThresholds: input.alert_thresholds ?? null,
    graceThreshold: input.grace_threshold ?? 110,
    budgetDuration,
    firstPeriod: { startedAt: new Date(period.startMs), resetAt: new Date(period.endMs) },
  };
  const { created, row } = await ctx.db.transaction(async (tx) => {
    const result = await putGlobalBudget(tx, config);
    await recordAudit(tx, {
      tenantId: null,
      event: 'global_budget_set',
      actor,
      details: {
        max_budget: microsToUsd(config.maxBudgetMicros),
        budget_duration: budgetDuration,
        alert_thresholds: config.alertThresholds ?? [config.alertThreshold],
        grace_threshold: config.graceThreshold,
        created: result.created,
      },
    });
    return result;
  });
  await invalidate(ctx, { global: true });
  return { created, view: await globalView(ctx, row) };
}

export async function removeGlobal(ctx: AdminContext, actor: string): Promise<void> {
  const removed = await ctx.db.transaction(async (tx) => {
    const row = await getGlobalBudget(tx);
    if (!row || !(await deleteGlobalBudget(tx))) return false;
    await recordAudit(tx, { tenantId: null, event: 'global_budget_removed', actor, details: { max_budget: microsToUsd(row.maxBudgetMicros) } });
    return true;
  });
  if (!removed) throw noGlobal();
  await invalidate(ctx, { global: true });
}

async function globalView(ctx: AdminContext, row: GlobalBudget): Promise<GlobalView> {
  const budget = globalScope(globalLimit(row), ctx.now());
  const [state] = await budgetStates(ctx, [budget]);
  return {
    max_budget: microsToUsd(row.maxBudgetMicros),
    budget_duration: row.budgetDuration,
    alert_threshold: row.alertThreshold,
    alert_thresholds: row.alertThresholds,
    grace_threshold: row.graceThreshold,
    ...budgetView(budget, state!),
  };
}

function noGlobal(): GatewayError {
  return new GatewayError('not_found', 'No global budget is set: PUT /admin/budgets/global to set one.');
}
