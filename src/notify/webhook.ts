import { createHmac } from 'node:crypto';
import type { Notification } from '../db/schema.js';
import { isSuccess, postJson } from './post.js';
import { DeliveryError, type Sink } from './sink.js';

/**
 * NOTIFY_WEBHOOK_URL (CONTRACT section 8): the row as JSON, signed with NOTIFY_WEBHOOK_SECRET over
 * the exact bytes sent, with the row id as `x-notification-id` so a receiver can drop a retry it
 * already has (delivery is at least once). Any 2xx is delivered; anything else is retried.
 */

export interface WebhookPayload {
  readonly id: string;
  readonly event: string;
  readonly tenant_id: string | null;
  readonly occurred_at: string;
  readonly message: string;
  readonly data: Record<string, unknown>;
}

function webhookPayload(n: Notification): WebhookPayload {
  return {
    id: n.id,
    event: n.event,
    tenant_id: n.tenantId,
    occurred_at: n.occurredAt.toISOString(),
    message: n.message,
    data: n.data,
  };
}

/** `sha256=<hex HMAC-SHA256 of body>`: what the receiver recomputes over the raw body it read. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** Without a secret the webhook goes out unsigned (no `x-signature`); the gateway warns at start. */
export function webhookSink(url: string, secret: string | undefined, timeoutMs?: number): Sink {
  return {
    name: 'webhook',
    channel: 'notify',
    async deliver(n) {
      const body = JSON.stringify(webhookPayload(n));
      const headers: Record<string, string> = { 'x-notification-id': n.id };
      if (secret !== undefined) headers['x-signature'] = signBody(body, secret);
      const { status } = await postJson(url, body, { headers, timeoutMs });
      if (!isSuccess(status)) throw new DeliveryError(`HTTP ${status}`);
    },
  };
}
