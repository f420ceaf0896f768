import type { Notification } from '../db/schema.js';
import { isSuccess, postJson } from './post.js';
import { DeliveryError, type Sink } from './sink.js';

/**
 * NOTIFY_SLACK_WEBHOOK_URL: a Slack incoming-webhook message. `text` is the notification's message
 * (what Slack shows in the notification itself); the blocks add the event, tenant and time.
 */

export interface SlackMessage {
  readonly text: string;
  readonly blocks: readonly Record<string, unknown>[];
}

function slackMessage(n: Notification): SlackMessage {
  const text = escapeMrkdwn(n.message);
  const context = [`*${escapeMrkdwn(n.event)}*`, n.tenantId === null ? undefined : `tenant \`${escapeMrkdwn(n.tenantId)}\``, n.occurredAt.toISOString()];
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: context.filter((part) => part !== undefined).join(' · ') }] },
    ],
  };
}

// Slack reads &, < and > as markup (links, mentions); tenant ids and messages are plain text.
function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

export function slackSink(url: string, timeoutMs?: number): Sink {
  return {
    name: 'slack',
    channel: 'notify',
    async deliver(n) {
      const { status } = await postJson(url, JSON.stringify(slackMessage(n)), { timeoutMs });
      if (!isSuccess(status)) throw new DeliveryError(`HTTP ${status}`);
    },
  };
}
