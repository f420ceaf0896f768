import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../../src/db/client.js';
import { auditLog, litellmAlerts, type AuditEntry, type LitellmAlert } from '../../src/db/schema.js';

/** The litellm_alerts rows about `subject`, oldest first. */
export function storedAlerts(db: Db, subject: string): Promise<LitellmAlert[]> {
  return db.select().from(litellmAlerts).where(eq(litellmAlerts.subject, subject)).orderBy(asc(litellmAlerts.receivedAt));
}

/** The `litellm_alert_received` audit entries about `subject`, oldest first. */
export function alertAudits(db: Db, subject: string): Promise<AuditEntry[]> {
  return db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.event, 'litellm_alert_received'), sql`${auditLog.details}->>'subject' = ${subject}`))
    .orderBy(asc(auditLog.id));
}
