import { microsToUsd } from '../budget/money.js';
import { keyScope } from '../budget/scopes.js';
import { recordAudit } from '../db/audit.js';
import { activeKeys, createKey, hashKey, KeyAlreadyRegisteredError, revokeKey } from '../db/keys.js';
import { activeOverride } from '../db/overrides.js';
import { tenantPolicy } from '../guard/tenant-directory.js';
import { budgetStates, budgetView, type BudgetView } from '../guard/budget-states.js';
import { GatewayError } from '../errors.js';
import { invalidate, type AdminContext } from './context.js';
import { requireTenant } from './tenants.js';

/** API keys through the admin API: register a LiteLLM key or mint one; revoke. */

export interface CreatedKeyView {
  readonly key_id: string;
  /** Shown in this answer only: only its hash is kept. */
  readonly key: string;
  readonly prefix: string;
}

export async function addKey(
  ctx: AdminContext,
  tenantId: string,
  input: { key?: string | undefined; max_budget?: number | undefined },
  actor: string,
): Promise<CreatedKeyView> {
  await requireTenant(ctx, tenantId);
  try {
    const created = await ctx.db.transaction(async (tx) => {
      const key = await createKey(tx, tenantId, { ...(input.key === undefined ? {} : { key: input.key }), maxBudgetMicros: input.max_budget ?? null });
      await recordAudit(tx, {
        tenantId,
        event: 'key_created',
        actor,
        details: {
          key_id: key.keyId,
          prefix: key.prefix,
          origin: key.origin,
          ...(input.max_budget === undefined ? {} : { max_budget: microsToUsd(input.max_budget) }),
        },
      });
      return key;
    });
    // An unknown key is cached as unknown: drop that, so the key works at once everywhere.
    await invalidate(ctx, { keyHash: hashKey(created.key) });
    return { key_id: created.keyId, key: created.key, prefix: created.prefix };
  } catch (err) {
    if (err instanceof KeyAlreadyRegisteredError) throw new GatewayError('key_already_registered', `${err.message}.`);
    throw err;
  }
}

export interface KeyView {
  readonly key_id: string;
  readonly prefix: string;
  readonly origin: string;
  readonly created_at: string;
  /** The key's own budget in its tenant's period (CONTRACT section 11), or null. */
  readonly budget: BudgetView | null;
}

/** The tenant's active keys, each with where its own budget stands. */
export async function listKeys(ctx: AdminContext, tenantId: string): Promise<{ data: KeyView[] }> {
  const row = await requireTenant(ctx, tenantId);
  const nowMs = ctx.now();
  const policy = tenantPolicy(row, await activeOverride(ctx.db, tenantId, new Date(nowMs)));
  const keys = await activeKeys(ctx.db, tenantId);
  const budgets = keys.flatMap((k) => (k.maxBudgetMicros === null ? [] : [keyScope(policy, k.keyId, k.maxBudgetMicros, nowMs)]));
  const states = await budgetStates(ctx, budgets);
  const views = new Map(budgets.map((b, i) => [b.scope, budgetView(b, states[i]!)]));
  return {
    data: keys.map((k) => ({
      key_id: k.keyId,
      prefix: k.prefix,
      origin: k.origin,
      created_at: k.createdAt.toISOString(),
      budget: views.get(`key:${k.keyId}`) ?? null,
    })),
  };
}

export async function removeKey(ctx: AdminContext, tenantId: string, keyId: string, actor: string): Promise<void> {
  await requireTenant(ctx, tenantId);
  const revoked = await ctx.db.transaction(async (tx) => {
    const key = await revokeKey(tx, tenantId, keyId);
    if (key) await recordAudit(tx, { tenantId, event: 'key_revoked', actor, details: { key_id: keyId, prefix: key.prefix } });
    return key;
  });
  if (!revoked) throw new GatewayError('not_found', `Tenant ${JSON.stringify(tenantId)} has no active key ${JSON.stringify(keyId)}.`);
  await invalidate(ctx, { keyHash: revoked.keyHash });
}
