import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../app-env.js';
import type { Db } from '../db/client.js';
import { recordLitellmAlert } from '../db/litellm-alerts.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import { readLitellmAlert } from './litellm-alert.js';
import { authenticateWebhook, type WebhookAuth } from './litellm-webhook.js';

/**
 * `POST /api/v1/budget-alerts` (CONTRACT section 7): LiteLLM's budget alerts into the gateway.
 * Outside the proxied OpenAI paths (`/v1/...` and their unprefixed forms), so it never reaches
 * LiteLLM and never spends budget. A repeat is answered 200 like the first: LiteLLM treats
 * anything else as a failed delivery.
 */

export const LITELLM_ALERTS_PATH = '/api/v1/budget-alerts';

/** One alert per event and subject within this window (CONTRACT section 7). */
export const ALERT_DEDUPE_WINDOW_MS = 60 * 60 * 1000;

// LiteLLM's alerts are well under a kilobyte; the limit only keeps junk from being buffered.
const ALERT_BODY_LIMIT_BYTES = 64 * 1024;

export interface LitellmAlertDeps {
  readonly db: Db;
  /** LITELLM_WEBHOOK_SECRET; unset, every alert is refused. */
  readonly secret: string | undefined;
  /** The gateway's clock: the de-duplication window is measured on it. */
  readonly now: () => number;
  readonly logger: Logger;
}

export function litellmAlertRoutes(deps: LitellmAlertDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const limit = bodyLimit({
    maxSize: ALERT_BODY_LIMIT_BYTES,
    onError: () => {
      // Closing the connection stops the sender from pushing the rest of a body nobody reads.
      throw new GatewayError('request_too_large', `The request body is larger than the limit of ${ALERT_BODY_LIMIT_BYTES} bytes.`, {
        connection: 'close',
      });
    },
  });

  routes.post(LITELLM_ALERTS_PATH, limit, async function receiveLitellmAlert(c) {
    const body = Buffer.from(await c.req.arrayBuffer());
    const auth = authenticateWebhook(deps.secret, body, {
      signature: c.req.header('x-webhook-signature'),
      token: c.req.query('token'),
    });
    if (auth !== 'accepted') throw unauthorized(auth);
    const alert = readLitellmAlert(parseJson(body));
    const { stored, tenantId } = await recordLitellmAlert(deps.db, alert, deps.now(), ALERT_DEDUPE_WINDOW_MS);
    const fields = { event: alert.event, subject: alert.subject, tenant: tenantId };
    if (stored) deps.logger.info(fields, 'litellm alert received');
    else deps.logger.debug(fields, 'litellm alert repeated within the hour: not stored again');
    return c.json({ status: 'accepted' });
  });

  return routes;
}

function unauthorized(auth: Exclude<WebhookAuth, 'accepted'>): GatewayError {
  const message =
    auth === 'not_configured'
      ? 'The LiteLLM alert webhook is not configured: the gateway has no LITELLM_WEBHOOK_SECRET.'
      : 'Missing or wrong webhook credentials: send x-webhook-signature: sha256=<hex HMAC-SHA256 of the body> or ?token=<secret>.';
  return new GatewayError('invalid_webhook_secret', message);
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new GatewayError('invalid_json', `The request body is not valid JSON: ${(err as Error).message}`);
  }
}
