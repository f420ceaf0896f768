import { and, desc, eq, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from './client.js';
import { auditLog, notificationOutbox, type AuditEntry } from './schema.js';

/**
 * The audit log and the notification outbox, written through the same `Db` the change itself
 * uses: pass a transaction, and the entry and notification commit (or roll back) with the change
 * that caused them (CONTRACT section 8).
 */

export type AuditEvent =
  | 'tenant_created'
  | 'tenant_updated'
  | 'tenant_deleted'
  | 'key_created'
  | 'key_revoked'
  | 'budget_override_granted'
  | 'budget_override_removed'
  | 'budget_override_expired'
  | 'budget_reset'
  | 'budget_alert'
  | 'budget_blocked'
  | 'litellm_alert_received'
  // The global cap (CONTRACT section 11), beyond section 6's list; tenant_id null.
  | 'global_budget_set'
  | 'global_budget_removed';

export interface AuditRecord {
  readonly tenantId: string | null;
  readonly event: AuditEvent;
  /** Who did it: an admin key's fingerprint (`admin:<8 hex>`), `gateway`, `job:<name>` or `litellm`. */
  readonly actor: string;
  readonly details: Record<string, unknown>;
}

export interface QueuedNotification {
  readonly event: string;
  readonly tenantId: string | null;
  readonly message: string;
  readonly data: Record<string, unknown>;
  /** `notify` (webhook and Slack, the default) or `litellm` (a key update mirrored onto LiteLLM). */
  readonly channel?: 'notify' | 'litellm';
}

export interface AuditQuery {
  readonly tenantId?: string | undefined;
  readonly event?: string | undefined;
  readonly limit: number;
  /** Entries older than this id (the next page of a newest-first feed). */
  readonly beforeId?: number | undefined;
}

export async function recordAudit(db: Db, ...records: AuditRecord[]): Promise<void> {
  if (records.length === 0) return;
  await db.insert(auditLog).values(
    records.map((r) => ({ tenantId: r.tenantId, event: r.event, actor: r.actor, details: r.details })),
  );
}

/**
 * The rows go in as one JSON array parameter that PostgreSQL expands itself (as the ledger's do):
 * the reset job queues thousands of LiteLLM sync rows at once, and as bound parameters those cost
 * more in JavaScript than the insert does in the database, and could pass the protocol's limit of
 * 65,535 parameters.
 */
export async function queueNotifications(db: Db, ...notifications: QueuedNotification[]): Promise<void> {
  if (notifications.length === 0) return;
  const rows = JSON.stringify(
    notifications.map((n) => ({ event: n.event, tenant_id: n.tenantId, message: n.message, data: n.data, channel: n.channel ?? 'notify' })),
  );
  await db.execute(sql`insert into ${notificationOutbox} (event, tenant_id, message, data, channel)
    select event, tenant_id, message, data, channel
    from jsonb_to_recordset(${rows}::jsonb) as n(event text, tenant_id text, message text, data jsonb, channel text)`);
}

/** Newest first. */
export async function listAudit(db: Db, query: AuditQuery): Promise<AuditEntry[]> {
  const filters: (SQL | undefined)[] = [
    query.tenantId === undefined ? undefined : eq(auditLog.tenantId, query.tenantId),
    query.event === undefined ? undefined : eq(auditLog.event, query.event),
    query.beforeId === undefined ? undefined : lt(auditLog.id, query.beforeId),
  ];
  return db
    .select()
    .from(auditLog)
    .where(and(...filters))
    .orderBy(desc(auditLog.id))
    .limit(query.limit);
}
