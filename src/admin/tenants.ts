import type { z } from 'zod';
import { parseDuration } from '../budget/duration.js';
import { microsToUsd } from '../budget/money.js';
import { firstPeriod } from '../budget/period.js';
import { recordAudit } from '../db/audit.js';
import type { PeriodicLimit } from '../budget/scopes.js';
import { getGlobalBudget } from '../db/global-budget.js';
import { activeOverride, activeOverrides } from '../db/overrides.js';
import { globalLimit } from '../guard/tenant-directory.js';
import { deleteTenant, getTenant, listTenants, upsertTenant } from '../db/tenants.js';
import { GatewayError } from '../errors.js';
import { invalidate, type AdminContext } from './context.js';
import { tenantView, type TenantView } from './tenant-view.js';
import type { tenantBody } from './validation.js';

/** Tenant configuration through the admin API (CONTRACT sections 3 and 6), audited and invalidated. */

export type TenantInput = z.output<typeof tenantBody>;

/** Creates the tenant, or replaces its configuration keeping the current period and its spend. */
export async function putTenant(
  ctx: AdminContext,
  tenantId: string,
  input: TenantInput,
  actor: string,
): Promise<{ created: boolean; view: TenantView }> {
  const nowMs = ctx.now();
  const defaults = ctx.tenantDefaults;
  const budgetDuration = input.budget_duration ?? defaults.budget_duration ?? '30d';
  const resetAtMs = input.budget_reset_at === undefined ? undefined : Date.parse(input.budget_reset_at);
  if (resetAtMs !== undefined && resetAtMs <= nowMs) {
    throw new GatewayError('invalid_field', 'Invalid request: budget_reset_at: must be in the future', {}, [
      { path: 'budget_reset_at', message: 'must be in the future' },
    ]);
  }
  const period = firstPeriod(nowMs, parseDuration(budgetDuration), resetAtMs);
  const config = {
    tenantId,
    name: input.name ?? null,
    maxBudgetMicros: input.max_budget,
    alertThreshold: input.alert_threshold ?? defaults.alert_threshold ?? 80,
    graceThreshold: input.grace_threshold ?? defaults.grace_threshold ?? 110,
    budgetDuration,
    firstPeriod: { startedAt: new Date(period.startMs), resetAt: new Date(period.endMs) },
    budgetResetAt: resetAtMs === undefined ? undefined : new Date(resetAtMs),
    upstreamKey: input.upstream_key,
    scopes: {
      modelBudgets: input.model_budgets ? Object.fromEntries(Object.entries(input.model_budgets).map(([m, b]) => [m, b.max_budget])) : null,
      maxTokens: input.max_tokens ?? null,
      maxRequests: input.max_requests ?? null,
      alertThresholds: input.alert_thresholds ?? null,
    },
    // A replace after an unprocessed boundary applies to the period that holds now.
    nowMs,
  };
  const { created, tenant } = await ctx.db.transaction(async (tx) => {
    const result = await upsertTenant(tx, config);
    await recordAudit(tx, {
      tenantId,
      event: result.created ? 'tenant_created' : 'tenant_updated',
      actor,
      details: {
        name: config.name,
        max_budget: microsToUsd(config.maxBudgetMicros),
        alert_threshold: config.alertThreshold,
        ...(input.alert_thresholds ? { alert_thresholds: input.alert_thresholds } : {}),
        grace_threshold: config.graceThreshold,
        ...(input.model_budgets
          ? { model_budgets: Object.fromEntries(Object.entries(input.model_budgets).map(([m, b]) => [m, { max_budget: microsToUsd(b.max_budget) }])) }
          : {}),
        ...(input.max_tokens != null ? { max_tokens: input.max_tokens } : {}),
        ...(input.max_requests != null ? { max_requests: input.max_requests } : {}),
        budget_duration: config.budgetDuration,
        budget_reset_at: result.tenant.budgetResetAt.toISOString(),
        // Whether one was sent, never the key itself.
        ...(input.upstream_key === undefined ? {} : { upstream_key_changed: true }),
      },
    });
    return result;
  });
  await invalidate(ctx, { tenantId });
  const [override, global] = await Promise.all([activeOverride(ctx.db, tenantId, new Date(nowMs)), globalLimitOf(ctx)]);
  return { created, view: await tenantView(ctx, tenant, override, global, nowMs) };
}

export async function showTenant(ctx: AdminContext, tenantId: string): Promise<TenantView> {
  const nowMs = ctx.now();
  const [row, override, global] = await Promise.all([
    getTenant(ctx.db, tenantId),
    activeOverride(ctx.db, tenantId, new Date(nowMs)),
    globalLimitOf(ctx),
  ]);
  if (!row) throw unknownTenant(tenantId);
  return tenantView(ctx, row, override, global, nowMs);
}

export async function listTenantViews(
  ctx: AdminContext,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ data: TenantView[]; next_cursor: string | null }> {
  const nowMs = ctx.now();
  const { data, nextCursor } = await listTenants(ctx.db, page);
  const [overrides, global] = await Promise.all([
    activeOverrides(
      ctx.db,
      data.map((row) => row.tenantId),
      new Date(nowMs),
    ),
    globalLimitOf(ctx),
  ]);
  const views = await Promise.all(data.map((row) => tenantView(ctx, row, overrides.get(row.tenantId), global, nowMs)));
  return { data: views, next_cursor: nextCursor };
}

/** Soft-deletes the tenant; its keys stop working on every replica as soon as the answer is sent. */
export async function removeTenant(ctx: AdminContext, tenantId: string, actor: string): Promise<void> {
  const deleted = await ctx.db.transaction(async (tx) => {
    if (!(await deleteTenant(tx, tenantId))) return false;
    await recordAudit(tx, { tenantId, event: 'tenant_deleted', actor, details: {} });
    return true;
  });
  if (!deleted) throw unknownTenant(tenantId);
  await invalidate(ctx, { tenantId });
}

/** The global cap as the hot path sees it, read fresh (the admin path is not hot). */
export async function globalLimitOf(ctx: AdminContext): Promise<PeriodicLimit | undefined> {
  const row = await getGlobalBudget(ctx.db);
  return row && globalLimit(row);
}

/** 404 for a tenant that does not exist (or was deleted). */
export function unknownTenant(tenantId: string): GatewayError {
  return new GatewayError('not_found', `No tenant ${JSON.stringify(tenantId)}.`);
}

/** The tenant, or 404. */
export async function requireTenant(ctx: AdminContext, tenantId: string) {
  const row = await getTenant(ctx.db, tenantId);
  if (!row) throw unknownTenant(tenantId);
  return row;
}
