import { afterAll, beforeAll, expect, it } from 'vitest';
import { adminApi, type AdminApi } from '../support/admin.js';
import { tenantId as newTenantId } from '../support/tenants.js';
import { startOutboxGateway, type OutboxGateway } from '../notify/harness.js';
import { startReceiver, type Receiver } from '../notify/receiver.js';

let receiver: Receiver;
let outbox: OutboxGateway;
let admin: AdminApi;

beforeAll(async () => {
  receiver = await startReceiver();
  outbox = await startOutboxGateway({ NOTIFY_WEBHOOK_URL: receiver.url, NOTIFY_WEBHOOK_SECRET: 'notify-secret' });
  admin = adminApi(outbox.gateway.url);
});
afterAll(async () => {
  await outbox.close();
  await receiver.close();
});

it('keeps an undeliverable notification, shows it as failed, and sends it again on request', async () => {
  receiver.status = 503;
  const tenantId = newTenantId();
  await admin.put(`/tenants/${tenantId}`, { max_budget: 10 });
  await admin.post(`/tenants/${tenantId}/budget-override`, { override_amount: 5, duration: '1d', reason: 'end of quarter jobs' });
  for (let attempt = 0; attempt < 10; attempt++) {
    await outbox.deliver();
    outbox.nowMs += 15 * 60_000; // past the longest back-off
  }

  const failed = (await admin.get('/notifications?status=failed')).body.data.filter((n: { tenant_id: string }) => n.tenant_id === tenantId);
  expect(failed).toEqual([
    expect.objectContaining({
      event: 'budget_override_granted',
      channel: 'notify',
      status: 'failed',
      attempts: 10,
      next_attempt_at: null,
      last_error: expect.stringContaining('503'),
      delivered_at: null,
    }),
  ]);
  expect(receiver.received).toHaveLength(10);

  receiver.status = 200;
  const retried = await admin.post(`/notifications/${failed[0].id}/retry`);
  expect(retried).toMatchObject({ status: 200, body: { id: failed[0].id, status: 'pending', attempts: 0 } });
  await outbox.deliver();
  const [delivered] = (await admin.get('/notifications?status=delivered')).body.data.filter((n: { id: string }) => n.id === failed[0].id);
  expect(delivered).toMatchObject({ status: 'delivered', delivered_to: ['webhook'] });
  expect(receiver.received.at(-1)!.headers['x-notification-id']).toBe(failed[0].id);

  expect((await admin.post(`/notifications/${failed[0].id}/retry`)).status).toBe(404);
  expect((await admin.post('/notifications/not-a-uuid/retry')).status).toBe(404);
  expect((await admin.get('/notifications?status=lost')).status).toBe(422);
});
