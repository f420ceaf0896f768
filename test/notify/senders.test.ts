import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Notification } from '../../src/db/schema.js';
import { slackSink, type SlackMessage } from '../../src/notify/slack.js';
import { signBody, webhookSink } from '../../src/notify/webhook.js';
import { closedPort } from '../support/gateway.js';
import { startReceiver, type Receiver } from './receiver.js';

const SECRET = 'whsec-test-secret';

function notification(overrides: Partial<Notification> = {}): Notification {
  return {
    id: randomUUID(),
    event: 'budget_alert',
    tenantId: 'acme',
    occurredAt: new Date('2026-08-01T12:00:00.000Z'),
    message: 'Tenant acme has used 80% of its budget: $80 of $100.',
    data: { threshold: 80, spend: 80, effective_budget: 100 },
    status: 'pending',
    attempts: 1,
    nextAttemptAt: new Date(),
    lastError: null,
    deliveredAt: null,
    channel: 'notify',
    deliveredTo: [],
    ...overrides,
  };
}

describe('webhook signature', () => {
  it('is sha256=<hex HMAC-SHA256> of the body (RFC 4231 test case 2)', () => {
    expect(signBody('what do ya want for nothing?', 'Jefe')).toBe('sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('covers the body byte for byte: any change gives another signature', () => {
    expect(signBody('{"a":1}', SECRET)).not.toBe(signBody('{"a": 1}', SECRET));
    expect(signBody('{"a":1}', SECRET)).not.toBe(signBody('{"a":1}', `${SECRET}x`));
  });
});

describe('senders over real HTTP', () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(() => receiver.close());
  beforeEach(() => {
    receiver.received.length = 0;
    receiver.status = 200;
    receiver.hang = false;
  });

  it('posts the row as signed JSON with x-notification-id; the receiver recomputes the signature', async () => {
    const n = notification();
    await webhookSink(receiver.url, SECRET).deliver(n, new Set());

    const [got] = receiver.received;
    expect(got!.headers['content-type']).toBe('application/json');
    expect(got!.headers['x-notification-id']).toBe(n.id);
    const expected = `sha256=${createHmac('sha256', SECRET).update(got!.raw).digest('hex')}`;
    expect(got!.headers['x-signature']).toBe(expected);
    expect(got!.body).toEqual({
      id: n.id,
      event: 'budget_alert',
      tenant_id: 'acme',
      occurred_at: '2026-08-01T12:00:00.000Z',
      message: n.message,
      data: { threshold: 80, spend: 80, effective_budget: 100 },
    });
  });

  it('sends no x-signature without a secret', async () => {
    await webhookSink(receiver.url, undefined).deliver(notification(), new Set());
    expect(receiver.received[0]!.headers).not.toHaveProperty('x-signature');
  });

  it.each([200, 201, 204, 299])('takes %i as delivered', async (status) => {
    receiver.status = status;
    await expect(webhookSink(receiver.url, SECRET).deliver(notification(), new Set())).resolves.toBeUndefined();
  });

  it.each([301, 400, 404, 429, 500, 503])('takes %i as a failure to retry', async (status) => {
    receiver.status = status;
    await expect(webhookSink(receiver.url, SECRET).deliver(notification(), new Set())).rejects.toThrow(`HTTP ${status}`);
  });

  it('fails on a receiver that does not answer within the timeout, and on a refused connection', async () => {
    receiver.hang = true;
    const started = performance.now();
    await expect(webhookSink(receiver.url, SECRET, 300).deliver(notification(), new Set())).rejects.toThrow('no answer within 300 ms');
    expect(performance.now() - started).toBeLessThan(3_000);
    await expect(webhookSink(`http://127.0.0.1:${await closedPort()}/hook`, SECRET).deliver(notification(), new Set())).rejects.toThrow(
      'ECONNREFUSED',
    );
  });

  it('posts a Slack incoming-webhook message whose text is the message, markup escaped', async () => {
    const n = notification({ message: 'Tenant <a&b> is blocked: $110 spent of $100.', tenantId: '<a&b>' });
    await slackSink(receiver.url).deliver(n, new Set());

    const body = receiver.received[0]!.body as SlackMessage;
    expect(body.text).toBe('Tenant &lt;a&amp;b&gt; is blocked: $110 spent of $100.');
    expect(body.blocks[0]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: body.text } });
    expect(JSON.stringify(body.blocks[1])).toContain('budget_alert');
    receiver.status = 404;
    await expect(slackSink(receiver.url).deliver(n, new Set())).rejects.toThrow('HTTP 404');
  });
});
