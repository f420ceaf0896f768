import type { Db } from './client.js';
import { alertHistory, auditLog, notificationOutbox } from './schema.js';

/**
 * Threshold crossings seen on the hot path, recorded exactly once per tenant, scope, kind,
 * threshold and period however many replicas see the same crossing: the alert_history primary key
 * decides which call was first, and only that call writes the audit entry and the notification,
 * in the same transaction (CONTRACT section 8).
 */

/** alert_history's owner for the global cap (its tenant_id column is never null). */
const GLOBAL_OWNER = '*';

export interface Crossing {
  /** The tenant whose budget crossed; null for the global cap. */
  readonly tenantId: string | null;
  /** 'tenant', or another budget scope (CONTRACT section 11), e.g. 'global' or 'model:gpt-4o'. */
  readonly scope: string;
  readonly kind: 'alert' | 'blocked';
  /** Percent of the effective budget. */
  readonly threshold: number;
  readonly periodStartedAt: Date;
  readonly actor: string;
  readonly details: Record<string, unknown>;
  readonly notification: { readonly event: string; readonly message: string; readonly data: Record<string, unknown> };
}

/** Whether this call was the first to record the crossing (and so wrote its audit entry and notification). */
export async function recordCrossing(db: Db, c: Crossing): Promise<boolean> {
  return db.transaction(async (tx) => {
    const first = await tx
      .insert(alertHistory)
      .values({
        tenantId: c.tenantId ?? GLOBAL_OWNER,
        scope: c.scope,
        kind: c.kind,
        threshold: c.threshold,
        periodStartedAt: c.periodStartedAt,
      })
      .onConflictDoNothing()
      .returning({ tenantId: alertHistory.tenantId });
    if (first.length === 0) return false;
    await tx.insert(auditLog).values({
      tenantId: c.tenantId,
      event: c.kind === 'alert' ? 'budget_alert' : 'budget_blocked',
      actor: c.actor,
      details: c.details,
    });
    await tx.insert(notificationOutbox).values({ tenantId: c.tenantId, ...c.notification });
    return true;
  });
}
