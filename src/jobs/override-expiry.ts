import { microsToUsd } from '../budget/money.js';
import { queueNotifications, recordAudit, type QueuedNotification } from '../db/audit.js';
import type { Db } from '../db/client.js';
import { endExpiredOverrides, type ExpiredOverride } from '../db/expired-overrides.js';
import type { InvalidationBus } from '../guard/invalidation.js';
import type { Logger } from '../logger.js';
import { litellmSync } from '../notify/litellm-sync.js';
import type { Job, JobSummary } from './scheduler.js';

/**
 * The override clean-up job (CONTRACT sections 6, 8 and 9): ends the overrides whose time is up,
 * audits and notifies each expiry, and with LiteLLM sync clears the temporary budget on the
 * tenant's LiteLLM keys. Budgets do not wait for it: the hot path stops counting an override at
 * `expires_at` to the second (effectiveBudget), so this job only writes the records.
 */

export interface OverrideExpiryDeps {
  readonly db: Db;
  readonly invalidation: InvalidationBus;
  readonly logger: Logger;
  /** LITELLM_MASTER_KEY is set: expiries are mirrored onto the tenant's LiteLLM keys. */
  readonly litellmSync: boolean;
}

export const OVERRIDE_EXPIRY_JOB = 'override_expiry';
const ACTOR = `job:${OVERRIDE_EXPIRY_JOB}`;

export function overrideExpiryJob(deps: OverrideExpiryDeps, schedule: string): Job {
  return {
    name: OVERRIDE_EXPIRY_JOB,
    schedule,
    leaseMs: 5 * 60_000,
    run: (nowMs) => expireOverrides(deps, nowMs),
  };
}

export async function expireOverrides(deps: OverrideExpiryDeps, nowMs: number): Promise<JobSummary> {
  const expired = await deps.db.transaction(async (tx) => {
    const ended = await endExpiredOverrides(tx, new Date(nowMs));
    await recordExpiries(tx, ended, { actor: ACTOR, litellmSync: deps.litellmSync });
    return ended;
  });
  // Cached tenants still hold the ended override: it no longer counts, but caches should not keep
  // what the database has ended. A lost message is only logged: the change is committed.
  for (const tenantId of new Set(expired.map((o) => o.tenantId))) {
    await deps.invalidation.publish({ tenantId }).catch((err: Error) => {
      deps.logger.warn({ tenant: tenantId, err: err.message }, 'override expiry: cache invalidation not published');
    });
  }
  return expired.length === 0 ? {} : { expired: expired.length };
}

/**
 * The records of overrides that ran out: a `budget_override_expired` audit entry, the notification
 * and, with LiteLLM sync, the clearing of the temporary budget. Also used when a grant finds the
 * previous override expired before this job got to it (that grant then syncs LiteLLM itself).
 */
export async function recordExpiries(
  tx: Db,
  ended: readonly ExpiredOverride[],
  options: { readonly actor: string; readonly litellmSync: boolean },
): Promise<void> {
  const details = ended.map((o) => ({ override_amount: microsToUsd(o.overrideAmountMicros), expires_at: o.expiresAt.toISOString() }));
  await recordAudit(tx, ...ended.map((o, i) => ({ tenantId: o.tenantId, event: 'budget_override_expired' as const, actor: options.actor, details: details[i]! })));
  await queueNotifications(
    tx,
    ...ended.flatMap((o, i): QueuedNotification[] => {
      const notice = { event: 'budget_override_expired', tenantId: o.tenantId, message: 'Temporary budget increase has expired', data: details[i]! };
      return options.litellmSync ? [notice, litellmSync.clearTempBudget(o.tenantId)] : [notice];
    }),
  );
}
