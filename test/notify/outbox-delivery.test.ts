import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { listNotifications } from '../../src/db/outbox.js';
import { MAX_ATTEMPTS, retryDelayMs } from '../../src/jobs/outbox-delivery.js';
import { litellmSync } from '../../src/notify/litellm-sync.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { closedPort } from '../support/gateway.js';
import { outboxEvents, waitForLedgerRows } from '../support/ledger.js';
import { forEachStore } from '../support/stores.js';
import { tenantId } from '../support/tenants.js';
import { startOutboxGateway, type OutboxGateway } from './harness.js';
import { startReceiver, type Receiver } from './receiver.js';

const SECRET = 'whsec-outbox-test';
const SECOND = 1_000;

describe('retry schedule', () => {
  it.each([
    [1, 2 * SECOND],
    [2, 4 * SECOND],
    [3, 8 * SECOND],
    [4, 16 * SECOND],
    [9, 512 * SECOND],
    [10, 600 * SECOND],
    [30, 600 * SECOND],
  ])('waits %i failed attempts -> %i ms (doubling from 2 s, capped at 10 min)', (attempts, delayMs) => {
    expect(retryDelayMs(attempts)).toBe(delayMs);
  });
});

let sim: SimLiteLLM;
beforeAll(async () => {
  sim = await startSimLiteLLM();
});
afterAll(() => sim.close());

async function receivers(count: number): Promise<Receiver[]> {
  const started = await Promise.all(Array.from({ length: count }, () => startReceiver()));
  onTestFinished(() => Promise.all(started.map((r) => r.close())).then(() => undefined));
  return started;
}

async function outbox(env: Record<string, string>): Promise<OutboxGateway> {
  const started = await startOutboxGateway({ LITELLM_BASE_URL: sim.url, ...env });
  onTestFinished(() => started.close());
  return started;
}

const alert = (tenant = tenantId()) => ({ event: 'budget_alert', tenantId: tenant, message: `${tenant} is at 80%.`, data: { threshold: 80 } });

forEachStore('a budget crossing seen on the hot path', (store) => {
  it('reaches the webhook, signed, and Slack in the next run', async () => {
    const [hook, slack] = await receivers(2);
    const env = { NOTIFY_WEBHOOK_URL: hook!.url, NOTIFY_WEBHOOK_SECRET: SECRET, NOTIFY_SLACK_WEBHOOK_URL: slack!.url, ...store.env() };
    const { gateway, deliver, row } = await outbox(env);
    // Each simulated answer costs 11 micro-dollars: the 8th request passes 80 % of 100.
    const tenant = await gateway.createTenant({ maxBudgetMicros: 100 });
    for (let served = 1; served <= 8; served++) {
      await gateway.client({ apiKey: tenant.key }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
      await waitForLedgerRows(gateway.db, tenant.tenantId, served);
    }
    await expect.poll(async () => (await outboxEvents(gateway.db, tenant.tenantId, 'budget_alert')).length).toBe(1);
    const [queued] = await outboxEvents(gateway.db, tenant.tenantId, 'budget_alert');

    await deliver();

    const webhooks = hook!.received.filter((r) => r.headers['x-notification-id'] === queued!.id);
    expect(webhooks).toHaveLength(1);
    const { headers, raw, body } = webhooks[0]!;
    expect(headers['x-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`);
    expect(body).toMatchObject({ id: queued!.id, event: 'budget_alert', tenant_id: tenant.tenantId, data: { threshold: 80, effective_budget: 0.0001 } });
    expect(slack!.received.map((r) => r.body)).toContainEqual(expect.objectContaining({ text: expect.stringContaining(tenant.tenantId) }));
    expect(await row(queued!.id)).toMatchObject({ status: 'delivered', attempts: 1, deliveredTo: ['slack', 'webhook'], lastError: null });
  });
});

describe('outbox delivery', () => {
  it('sends a new row within 5 s on its own schedule, nobody running the job by hand', async () => {
    const [hook] = await receivers(1);
    const box = await outbox({ NOTIFY_WEBHOOK_URL: hook!.url, NOTIFY_WEBHOOK_SECRET: SECRET });
    const queued = await box.queue(alert());
    const queuedAt = performance.now();

    await vi.waitFor(() => expect(hook!.received).toHaveLength(1), { timeout: 5_000, interval: 50 });

    expect(performance.now() - queuedAt).toBeLessThan(5_000);
    await vi.waitFor(async () => expect((await box.row(queued.id)).status).toBe('delivered'));
  });

  it('sends every new row within 5 s while the receiver hangs on the ones before', async () => {
    const [hook] = await receivers(1);
    hook!.hang = true;
    const box = await outbox({ NOTIFY_WEBHOOK_URL: hook!.url, NOTIFY_WEBHOOK_SECRET: SECRET });
    // A burst, each send held until it times out (10 s), then more rows while they hang.
    for (const wave of [12, 6]) {
      const queued = await Promise.all(Array.from({ length: wave }, () => box.queue(alert())));
      const queuedAt = performance.now();
      const ids = new Set(queued.map((row) => row.id));
      const arrived = () => hook!.received.filter((r) => ids.has(String(r.headers['x-notification-id']))).length;
      await vi.waitFor(() => expect(arrived()).toBe(wave), { timeout: 5_000, interval: 50 });
      expect(performance.now() - queuedAt).toBeLessThan(5_000);
    }
  });

  it('retries a failed webhook after the back-off and delivers it once the receiver answers 2xx', async () => {
    const [hook] = await receivers(1);
    hook!.answers.push(503);
    const box = await outbox({ NOTIFY_WEBHOOK_URL: hook!.url, NOTIFY_WEBHOOK_SECRET: SECRET });
    const queued = await box.queue(alert());

    await box.deliver();
    const failedAt = box.nowMs;
    expect(await box.row(queued.id)).toMatchObject({ status: 'pending', attempts: 1, lastError: 'webhook: HTTP 503' });
    expect((await box.row(queued.id)).nextAttemptAt.getTime()).toBe(failedAt + 2 * SECOND);

    box.nowMs = failedAt + 2 * SECOND - 1;
    await box.deliver();
    expect(hook!.received).toHaveLength(1);

    box.nowMs = failedAt + 2 * SECOND;
    await box.deliver();
    expect(hook!.received.map((r) => r.headers['x-notification-id'])).toEqual([queued.id, queued.id]);
    expect(await box.row(queued.id)).toMatchObject({ status: 'delivered', attempts: 2, lastError: null, deliveredAt: new Date(box.nowMs) });
  });

  it('does not send again to a sink that already accepted, while retrying the one that failed', async () => {
    const [hook, slack] = await receivers(2);
    slack!.answers.push(500);
    const box = await outbox({ NOTIFY_WEBHOOK_URL: hook!.url, NOTIFY_WEBHOOK_SECRET: SECRET, NOTIFY_SLACK_WEBHOOK_URL: slack!.url });
    const queued = await box.queue(alert());

    await box.deliver();
    expect(await box.row(queued.id)).toMatchObject({ status: 'pending', deliveredTo: ['webhook'], lastError: 'slack: HTTP 500' });
    box.nowMs += retryDelayMs(1);
    await box.deliver();

    expect(hook!.received).toHaveLength(1);
    expect(slack!.received).toHaveLength(2);
    expect(await box.row(queued.id)).toMatchObject({ status: 'delivered', deliveredTo: ['slack', 'webhook'] });
  });

  it(`gives up after ${MAX_ATTEMPTS} attempts, doubling the wait, and keeps the row as failed`, async () => {
    const [hook] = await receivers(1);
    hook!.status = 500;
    const box = await outbox({ NOTIFY_WEBHOOK_URL: hook!.url, NOTIFY_WEBHOOK_SECRET: SECRET });
    const queued = await box.queue(alert());

    const waits: number[] = [];
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      await box.deliver();
      const after = await box.row(queued.id);
      expect(after.attempts).toBe(attempt);
      waits.push(after.nextAttemptAt.getTime() - box.nowMs);
      box.nowMs = after.nextAttemptAt.getTime();
    }
    expect(waits.slice(0, 9)).toEqual([2, 4, 8, 16, 32, 64, 128, 256, 512].map((s) => s * SECOND));
    expect(await box.row(queued.id)).toMatchObject({ status: 'failed', attempts: MAX_ATTEMPTS, lastError: 'webhook: HTTP 500', deliveredAt: null });

    box.nowMs += 3_600 * SECOND;
    await box.deliver();
    expect(hook!.received).toHaveLength(MAX_ATTEMPTS);
    expect((await listNotifications(box.database.db, { status: 'failed', limit: 10 })).map((n) => n.id)).toEqual([queued.id]);
  });

  it('keeps delivering the other rows when one fails', async () => {
    const [hook] = await receivers(1);
    hook!.answers.push(500);
    const box = await outbox({ NOTIFY_WEBHOOK_URL: hook!.url, NOTIFY_WEBHOOK_SECRET: SECRET });
    const rows = [await box.queue(alert()), await box.queue(alert()), await box.queue(alert())];

    await box.deliver();

    const statuses = await Promise.all(rows.map(async (r) => (await box.row(r.id)).status));
    expect(statuses.sort()).toEqual(['delivered', 'delivered', 'pending']);
  });

  it('records an unreachable receiver as a failed attempt', async () => {
    const box = await outbox({ NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${await closedPort()}/hook`, NOTIFY_WEBHOOK_SECRET: SECRET });
    const queued = await box.queue(alert());

    await box.deliver();

    expect(await box.row(queued.id)).toMatchObject({ status: 'pending', attempts: 1, lastError: 'webhook: ECONNREFUSED' });
  });

  it('leaves rows of a channel without a sink pending and untouched (LiteLLM rows without LITELLM_MASTER_KEY)', async () => {
    const [hook] = await receivers(1);
    const box = await outbox({ NOTIFY_WEBHOOK_URL: hook!.url, NOTIFY_WEBHOOK_SECRET: SECRET });
    const sync = await box.queue(litellmSync.resetSpend(tenantId()));
    const notice = await box.queue(alert());

    await box.deliver();
    box.nowMs += 3_600 * SECOND;
    await box.deliver();

    expect(await box.row(sync.id)).toEqual(sync);
    expect(await box.row(notice.id)).toMatchObject({ status: 'delivered' });
    expect(hook!.received).toHaveLength(1);
  });

  it('lists notifications newest first, optionally by status', async () => {
    const [hook] = await receivers(1);
    hook!.answers.push(200, 500);
    const box = await outbox({ NOTIFY_WEBHOOK_URL: hook!.url, NOTIFY_WEBHOOK_SECRET: SECRET });
    const first = await box.queue(alert());
    await box.deliver();
    const second = await box.queue(alert());
    await box.deliver();
    const third = await box.queue(alert());

    const db = box.database.db;
    expect((await listNotifications(db, { limit: 10 })).map((n) => n.id)).toEqual([third.id, second.id, first.id]);
    expect((await listNotifications(db, { status: 'pending', limit: 10 })).map((n) => n.id)).toEqual([third.id, second.id]);
    expect((await listNotifications(db, { status: 'delivered', limit: 10 })).map((n) => n.id)).toEqual([first.id]);
    expect(await listNotifications(db, { limit: 1 })).toHaveLength(1);
  });
});
