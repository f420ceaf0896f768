import { and, asc, desc, eq, inArray, lte, ne, notExists, or, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { Db } from './client.js';
import { notificationOutbox, type Notification } from './schema.js';

/**
 * The notification outbox as the delivery job sees it: claim what is due, record how it went, and
 * list rows for operators. Claims are one statement each, so no transaction stays open while the
 * job waits on a receiver, and two replicas never claim the same row.
 */

export type Channel = Notification['channel'];
export type NotificationStatus = Notification['status'];

export interface Claim {
  /** Only rows of these channels: a channel without a configured sink is left alone. */
  readonly channels: readonly Channel[];
  readonly nowMs: number;
  /** Until when the claimed rows are hidden from other runs: a run that dies frees them then. */
  readonly claimUntilMs: number;
  readonly limit: number;
}

/**
 * Claims due rows by counting the attempt and pushing `next_attempt_at` past the run, in one
 * statement (`FOR UPDATE SKIP LOCKED`: a row another replica is claiming is skipped, not waited on).
 * A row never tried (`attempts = 0`) is due at once whatever the clock says, so the first attempt
 * does not depend on the database's and the gateway's clocks agreeing. A LiteLLM row waits while an
 * older one of its tenant is pending: applied out of order, a cleared temporary budget could come back.
 */
export async function claimDue(db: Db, claim: Claim): Promise<Notification[]> {
  if (claim.channels.length === 0) return [];
  const o = notificationOutbox;
  const older = alias(notificationOutbox, 'older');
  const olderLitellmPending = db
    .select({ id: older.id })
    .from(older)
    .where(
      and(
        eq(older.channel, 'litellm'),
        eq(older.status, 'pending'),
        eq(older.tenantId, o.tenantId),
        sql`(${older.occurredAt}, ${older.id}) < (${o.occurredAt}, ${o.id})`,
      ),
    );
  const due = db
    .select({ id: o.id })
    .from(o)
    .where(
      and(
        eq(o.status, 'pending'),
        inArray(o.channel, [...claim.channels]),
        or(eq(o.attempts, 0), lte(o.nextAttemptAt, new Date(claim.nowMs))),
        or(ne(o.channel, 'litellm'), notExists(olderLitellmPending)),
      ),
    )
    // Rows never tried first, so a backlog of retries never delays a new row's first attempt.
    .orderBy(sql`${o.attempts} > 0`, asc(o.occurredAt))
    .limit(claim.limit)
    .for('update', { skipLocked: true });
  const claimed = await db
    .update(o)
    .set({ attempts: sql`${o.attempts} + 1`, nextAttemptAt: new Date(claim.claimUntilMs) })
    .where(inArray(o.id, due))
    .returning();
  return claimed.sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime());
}

export async function recordDelivered(db: Db, id: string, deliveredTo: readonly string[], nowMs: number): Promise<void> {
  await db
    .update(notificationOutbox)
    .set({ status: 'delivered', deliveredAt: new Date(nowMs), deliveredTo: [...deliveredTo], lastError: null })
    .where(eq(notificationOutbox.id, id));
}

export interface FailedAttempt {
  /** Sinks (or parts) that did accept it: a retry skips them. */
  readonly deliveredTo: readonly string[];
  readonly lastError: string;
  /** When to try again; ignored once `gaveUp`. */
  readonly nextAttemptAtMs: number;
  /** No attempts left: the row becomes `failed`, and stays in the table for operators. */
  readonly gaveUp: boolean;
}

export async function recordFailedAttempt(db: Db, id: string, attempt: FailedAttempt): Promise<void> {
  await db
    .update(notificationOutbox)
    .set({
      status: attempt.gaveUp ? 'failed' : 'pending',
      deliveredTo: [...attempt.deliveredTo],
      lastError: attempt.lastError,
      nextAttemptAt: new Date(attempt.nextAttemptAtMs),
    })
    .where(eq(notificationOutbox.id, id));
}

export interface NotificationQuery {
  readonly status?: NotificationStatus | undefined;
  readonly limit: number;
}

/** Newest first; operators look here for `failed` and `pending` notifications. */
export async function listNotifications(db: Db, query: NotificationQuery): Promise<Notification[]> {
  return db
    .select()
    .from(notificationOutbox)
    .where(query.status === undefined ? undefined : eq(notificationOutbox.status, query.status))
    .orderBy(desc(notificationOutbox.occurredAt), desc(notificationOutbox.id))
    .limit(query.limit);
}

/**
 * Puts a `failed` notification back in the queue for a fresh round of attempts (after the
 * receiver was fixed); sinks that already accepted it are still skipped. Returns it, or
 * undefined when there is no such failed notification.
 */
export async function requeueNotification(db: Db, id: string): Promise<Notification | undefined> {
  const [row] = await db
    .update(notificationOutbox)
    .set({ status: 'pending', attempts: 0, nextAttemptAt: sql`now()` })
    .where(and(eq(notificationOutbox.id, id), eq(notificationOutbox.status, 'failed')))
    .returning();
  return row;
}
