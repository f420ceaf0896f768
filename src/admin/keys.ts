import { recordAudit } from '../db/audit.js';
import { createKey, hashKey, KeyAlreadyRegisteredError, revokeKey } from '../db/keys.js';
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

export async function addKey(ctx: AdminContext, tenantId: string, input: { key?: string | undefined }, actor: string): Promise<CreatedKeyView> {
  await requireTenant(ctx, tenantId);
  try {
    const created = await ctx.db.transaction(async (tx) => {
      const key = await createKey(tx, tenantId, input.key === undefined ? {} : { key: input.key });
      await recordAudit(tx, {
        tenantId,
        event: 'key_created',
        actor,
        details: { key_id: key.keyId, prefix: key.prefix, origin: key.origin },
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
