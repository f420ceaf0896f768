import type { SpendStore } from '../budget/spend-store.js';
import type { ConfigFile } from '../config.js';
import type { Db } from '../db/client.js';
import type { Invalidation, InvalidationBus } from '../guard/invalidation.js';
import type { Logger } from '../logger.js';

/** What the admin operations need, handed in once by the gateway. */
export interface AdminContext {
  readonly db: Db;
  readonly store: SpendStore;
  readonly invalidation: InvalidationBus;
  readonly logger: Logger;
  readonly now: () => number;
  /** Defaults for fields a tenant body leaves out (CONFIG_FILE `tenant_defaults`). */
  readonly tenantDefaults: ConfigFile['tenant_defaults'];
  /** LITELLM_MASTER_KEY is set: resets and overrides are mirrored onto LiteLLM keys. */
  readonly litellmSync: boolean;
}

/**
 * Drops the change from every replica's caches. The change is already committed: if Redis is
 * away the message is lost, but every replica drops its whole cache when its subscription comes
 * back, so the failure is logged, not thrown at the admin.
 */
export async function invalidate(ctx: AdminContext, change: Invalidation): Promise<void> {
  await ctx.invalidation.publish(change).catch((err: Error) => {
    ctx.logger.warn({ err: err.message, change: 'tenantId' in change ? change.tenantId : 'key' }, 'cache invalidation not published');
  });
}
