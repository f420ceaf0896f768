import type { Db } from '../db/client.js';
import { lockTenantPeriod } from '../db/resets.js';
import type { InvalidationBus } from '../guard/invalidation.js';
import { applyResets, manualReset, type ResetDeps } from './period-resets.js';

/** What a manual reset needs; the admin context satisfies it. */
export interface ManualResetDeps extends ResetDeps {
  readonly db: Db;
  readonly invalidation: InvalidationBus;
}

/**
 * `POST /admin/tenants/:id/budget-reset` (CONTRACT section 6): a new period starts at `nowMs`
 * with spend 0, audited and notified like a scheduled reset (`actor` is who asked). It ends where
 * the current one would have (the grid is kept), so the next scheduled reset comes on time.
 * Requests in flight settle into the bucket of the period they were admitted in, keyed by its
 * start, so none of their cost lands in the new period. Returns false when there is no such tenant.
 */
export async function resetBudgetNow(deps: ManualResetDeps, tenantId: string, actor: string, nowMs: number): Promise<boolean> {
  const found = await deps.db.transaction(async (tx) => {
    const row = await lockTenantPeriod(tx, tenantId);
    if (row === undefined) return false;
    await applyResets(tx, deps, [manualReset(row, nowMs)], actor);
    return true;
  });
  if (!found) return false;
  // Unlike a scheduled reset, this start is off the grid: no replica can compute it from what it
  // cached, so every replica must drop the tenant. Committed already: a lost message is logged
  // (each replica drops its whole cache when its subscription comes back).
  await deps.invalidation.publish({ tenantId }).catch((err: Error) => {
    deps.logger.warn({ tenant: tenantId, err: err.message }, 'budget reset: cache invalidation not published');
  });
  return true;
}
