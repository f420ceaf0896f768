import type { z } from 'zod';
import { addDuration, parseOverrideDuration } from '../budget/duration.js';
import { formatUsd, microsToUsd } from '../budget/money.js';
import { queueNotifications, recordAudit } from '../db/audit.js';
import { grantOverride, removeOverride } from '../db/overrides.js';
import type { BudgetOverride } from '../db/schema.js';
import { GatewayError } from '../errors.js';
import { recordExpiries } from '../jobs/override-expiry.js';
import { litellmSync } from '../notify/litellm-sync.js';
import { invalidate, type AdminContext } from './context.js';
import { requireTenant } from './tenants.js';
import type { overrideBody } from './validation.js';

/**
 * Temporary budget increases (CONTRACT sections 3, 6 and 8). The hot path reads the override
 * from its cache, so each change is published to every replica before the answer is sent: a
 * grant admits a blocked tenant's next request at once, wherever it lands.
 */

export type OverrideInput = z.output<typeof overrideBody>;

export interface GrantedView {
  readonly success: true;
  readonly tenant_id: string;
  readonly override_amount: number;
  readonly new_max_budget: number;
  readonly expires_at: string;
}

export async function grant(
  ctx: AdminContext,
  tenantId: string,
  input: OverrideInput,
  options: { replace: boolean; actor: string },
): Promise<GrantedView> {
  const tenant = await requireTenant(ctx, tenantId);
  const nowMs = ctx.now();
  const expiresAtMs = addDuration(nowMs, parseOverrideDuration(input.duration));
  const outcome = await ctx.db.transaction(async (tx) => {
    const result = await grantOverride(tx, {
      tenantId,
      amountMicros: input.override_amount,
      expiresAt: new Date(expiresAtMs),
      reason: input.reason,
      createdBy: options.actor,
      now: new Date(nowMs),
      replace: options.replace,
    });
    if (result.kind === 'active') return result;
    // The set below supersedes a LiteLLM clear, and two LiteLLM rows of one transaction keep no order.
    if (result.expired) await recordExpiries(tx, [result.expired], { actor: 'gateway', litellmSync: false });
    const data = {
      tenant_id: tenantId,
      override_amount: microsToUsd(input.override_amount),
      max_budget: microsToUsd(tenant.maxBudgetMicros),
      new_max_budget: microsToUsd(tenant.maxBudgetMicros + input.override_amount),
      expires_at: new Date(expiresAtMs).toISOString(),
      reason: input.reason,
      ...(result.replaced ? { replaced_override_amount: microsToUsd(result.replaced.overrideAmountMicros) } : {}),
    };
    await recordAudit(tx, { tenantId, event: 'budget_override_granted', actor: options.actor, details: { ...data, duration: input.duration } });
    const message = `Temporary budget increase of $${formatUsd(input.override_amount)} granted until ${data.expires_at}: the budget is now $${formatUsd(tenant.maxBudgetMicros + input.override_amount)}.`;
    await queueNotifications(
      tx,
      { event: 'budget_override_granted', tenantId, message, data },
      ...(ctx.litellmSync ? [litellmSync.setTempBudget(tenantId, input.override_amount, expiresAtMs)] : []),
    );
    return result;
  });
  if (outcome.kind === 'active') throw overrideActive(tenantId, outcome.active);
  await invalidate(ctx, { tenantId });
  return {
    success: true,
    tenant_id: tenantId,
    override_amount: microsToUsd(input.override_amount),
    new_max_budget: microsToUsd(tenant.maxBudgetMicros + input.override_amount),
    expires_at: new Date(expiresAtMs).toISOString(),
  };
}

export async function remove(ctx: AdminContext, tenantId: string, actor: string): Promise<{ success: true; tenant_id: string; max_budget: number }> {
  const tenant = await requireTenant(ctx, tenantId);
  const removed = await ctx.db.transaction(async (tx) => {
    const override = await removeOverride(tx, tenantId, new Date(ctx.now()));
    if (!override) return undefined;
    const data = {
      tenant_id: tenantId,
      override_amount: microsToUsd(override.overrideAmountMicros),
      expires_at: override.expiresAt.toISOString(),
      max_budget: microsToUsd(tenant.maxBudgetMicros),
    };
    await recordAudit(tx, { tenantId, event: 'budget_override_removed', actor, details: data });
    const message = `Temporary budget increase of $${formatUsd(override.overrideAmountMicros)} removed: the budget is back to $${formatUsd(tenant.maxBudgetMicros)}.`;
    await queueNotifications(
      tx,
      { event: 'budget_override_removed', tenantId, message, data },
      ...(ctx.litellmSync ? [litellmSync.clearTempBudget(tenantId)] : []),
    );
    return override;
  });
  if (!removed) throw new GatewayError('not_found', `Tenant ${JSON.stringify(tenantId)} has no active budget override.`);
  await invalidate(ctx, { tenantId });
  return { success: true, tenant_id: tenantId, max_budget: microsToUsd(tenant.maxBudgetMicros) };
}

function overrideActive(tenantId: string, active: BudgetOverride): GatewayError {
  return new GatewayError(
    'override_active',
    `Tenant ${JSON.stringify(tenantId)} already has an active override ($${formatUsd(active.overrideAmountMicros)} until ` +
      `${active.expiresAt.toISOString()}); send ?replace=true to replace it.`,
  );
}
