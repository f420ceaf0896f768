import { and, eq, gt, sql } from 'drizzle-orm';
import type { LitellmAlert } from '../alerts/litellm-alert.js';
import { microsToUsd } from '../budget/money.js';
import { recordAudit } from './audit.js';
import type { Db } from './client.js';
import { apiKeys, litellmAlerts } from './schema.js';

/**
 * LiteLLM's alerts, stored once per event and subject within a window (CONTRACT section 7: one
 * hour), however many replicas receive the same alert at once. There is no unique key to lean on
 * (the same alert is welcome again after the window), so a transaction-scoped advisory lock on the
 * (event, subject) pair serialises the check and the insert: the second replica waits, then sees
 * the first one's row. Works on PGlite too, where transactions run one at a time anyway.
 */

// First key of the two-key advisory lock, so these locks never meet another feature's.
const ALERT_LOCK_SPACE = 0x4c4c4d41; // "LLMA"

export interface AlertRecording {
  /** False: the same event and subject was stored within the window, so this one was dropped. */
  readonly stored: boolean;
  /** The tenant whose key LiteLLM named (`token`), if it is one of ours; looked up only for a stored alert. */
  readonly tenantId: string | null;
}

/** Stores the alert and its `litellm_alert_received` audit entry, in one transaction, unless it is a repeat. */
export async function recordLitellmAlert(db: Db, alert: LitellmAlert, receivedAtMs: number, windowMs: number): Promise<AlertRecording> {
  const receivedAt = new Date(receivedAtMs);
  return db.transaction(async (tx) => {
    // hashtext is 32 bits: a collision only makes two unrelated alerts wait for each other.
    const lockKey = `${alert.event}\n${alert.subject}`;
    await tx.execute(sql`select pg_advisory_xact_lock(${ALERT_LOCK_SPACE}::int, hashtext(${lockKey}::text))`);
    const [recent] = await tx
      .select({ id: litellmAlerts.id })
      .from(litellmAlerts)
      .where(
        and(
          eq(litellmAlerts.event, alert.event),
          eq(litellmAlerts.subject, alert.subject),
          gt(litellmAlerts.receivedAt, new Date(receivedAtMs - windowMs)),
        ),
      )
      .limit(1);
    if (recent) return { stored: false, tenantId: null };

    const key = alert.keyHash === null ? undefined : await keyOwner(tx, alert.keyHash);
    const tenantId = key?.tenantId ?? null;
    await tx.insert(litellmAlerts).values({
      event: alert.event,
      subject: alert.subject,
      spendMicros: alert.spendMicros,
      payload: alert.payload,
      receivedAt,
    });
    await recordAudit(tx, {
      tenantId,
      event: 'litellm_alert_received',
      actor: 'litellm',
      details: {
        event: alert.event,
        subject: alert.subject,
        spend: microsToUsd(alert.spendMicros),
        max_budget: alert.maxBudgetMicros === null ? null : microsToUsd(alert.maxBudgetMicros),
        tenant_id: tenantId,
        key_id: key?.keyId ?? null,
        event_group: alert.eventGroup,
        key_alias: alert.keyAlias,
      },
    });
    return { stored: true, tenantId };
  });
}

// Revoked keys count too: the alert is about spend that key already made.
async function keyOwner(db: Db, keyHash: string): Promise<{ keyId: string; tenantId: string } | undefined> {
  const [owner] = await db
    .select({ keyId: apiKeys.keyId, tenantId: apiKeys.tenantId })
    .from(apiKeys)
    .where(eq(apiKeys.keyHash, keyHash));
  return owner;
}
