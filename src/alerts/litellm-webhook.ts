import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Who may post LiteLLM alerts (CONTRACT section 7): a sender that knows LITELLM_WEBHOOK_SECRET,
 * shown either as an HMAC-SHA256 signature of the raw body or as the secret itself in `?token=`.
 * LiteLLM needs the second form: it POSTs to WEBHOOK_URL with nothing but a content-type header
 * (`SlackAlerting.send_webhook_alert`, litellm/integrations/SlackAlerting/slack_alerting.py).
 */

export type WebhookAuth = 'accepted' | 'rejected' | 'not_configured';

export interface WebhookCredentials {
  /** The `x-webhook-signature` header: `sha256=<hex HMAC-SHA256 of the raw body>`. */
  readonly signature: string | undefined;
  /** The `token` query parameter. */
  readonly token: string | undefined;
}

/** `sha256=<hex>`: what a sender puts in `x-webhook-signature` for `body`. */
export function signWebhookBody(secret: string, body: Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Both forms are compared as SHA-256 digests of the two strings, so the comparison always spans
 * 32 bytes whatever the sender sent: neither the secret's length nor how much of a guess was right
 * shows in the timing. Both are always computed, so which form was tried does not show either.
 */
export function authenticateWebhook(secret: string | undefined, body: Uint8Array, credentials: WebhookCredentials): WebhookAuth {
  if (secret === undefined) return 'not_configured';
  const bySignature = sameSecretText(credentials.signature?.trim().toLowerCase(), signWebhookBody(secret, body));
  const byToken = sameSecretText(credentials.token, secret);
  return bySignature || byToken ? 'accepted' : 'rejected';
}

function sameSecretText(given: string | undefined, expected: string): boolean {
  // An absent credential is compared too (as ""), so the timing does not tell absent from wrong.
  const equal = timingSafeEqual(digest(given ?? ''), digest(expected));
  return given !== undefined && given !== '' && equal;
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
