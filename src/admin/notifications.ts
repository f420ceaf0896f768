import { listNotifications, requeueNotification } from '../db/outbox.js';
import type { Notification } from '../db/schema.js';
import { GatewayError } from '../errors.js';
import type { AdminContext } from './context.js';

/**
 * The outbox as operators see it: undeliverable notifications are kept, never dropped, and this
 * is where they are found (`?status=failed`) and sent on their way again once the receiver works.
 */

export async function notificationFeed(
  ctx: AdminContext,
  query: { status?: Notification['status'] | undefined; limit: number },
): Promise<{ data: Record<string, unknown>[] }> {
  return { data: (await listNotifications(ctx.db, query)).map(notificationView) };
}

export async function retryNotification(ctx: AdminContext, id: string): Promise<Record<string, unknown>> {
  const row = /^[0-9a-f-]{36}$/i.test(id) ? await requeueNotification(ctx.db, id) : undefined;
  if (!row) throw new GatewayError('not_found', `No failed notification ${JSON.stringify(id)}.`);
  return notificationView(row);
}

function notificationView(row: Notification): Record<string, unknown> {
  return {
    id: row.id,
    event: row.event,
    channel: row.channel,
    tenant_id: row.tenantId,
    occurred_at: row.occurredAt.toISOString(),
    message: row.message,
    data: row.data,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: row.status === 'pending' ? row.nextAttemptAt.toISOString() : null,
    last_error: row.lastError,
    delivered_to: row.deliveredTo,
    delivered_at: row.deliveredAt?.toISOString() ?? null,
  };
}
