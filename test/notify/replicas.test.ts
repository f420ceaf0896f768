import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import type { Database } from '../../src/db/client.js';
import { outboxDelivery } from '../../src/jobs/outbox-delivery.js';
import { createLogger } from '../../src/logger.js';
import { webhookSink } from '../../src/notify/webhook.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { forEachDatabase, type DatabaseUnderTest } from '../support/databases.js';
import { tenantId } from '../support/tenants.js';
import { startOutboxGateway, type OutboxGateway } from './harness.js';
import { startReceiver, type Receiver } from './receiver.js';

const SECRET = 'whsec-replicas';
const ROWS = 30;

let sim: SimLiteLLM;
let hook: Receiver;
beforeAll(async () => {
  sim = await startSimLiteLLM();
  hook = await startReceiver();
  // Slow enough that two runs overlap in time.
  hook.delayMs = 20;
});
afterAll(async () => {
  await hook.close();
  await sim.close();
});

/** A second replica's connection: another pool on PostgreSQL; PGlite has one owner, so the same one. */
async function secondConnection(t: DatabaseUnderTest): Promise<Database> {
  return t.kind === 'postgres' ? t.connect() : t.database;
}

/** Each row was received exactly once (by x-notification-id). */
function expectEachOnce(ids: string[]): void {
  const received = hook.received.map((r) => r.headers['x-notification-id']).filter((id) => ids.includes(id as string));
  expect(received.sort()).toEqual([...ids].sort());
}

forEachDatabase('two replicas delivering one outbox', (t) => {
  const queueRows = async (box: OutboxGateway) => {
    const ids: string[] = [];
    for (let i = 0; i < ROWS; i++) {
      const tenant = tenantId();
      ids.push((await box.queue({ event: 'budget_blocked', tenantId: tenant, message: `${tenant} is blocked.`, data: {} })).id);
    }
    return ids;
  };

  it('deliver each row once when both run the job at the same moment', async () => {
    const env = { LITELLM_BASE_URL: sim.url, NOTIFY_WEBHOOK_URL: hook.url, NOTIFY_WEBHOOK_SECRET: SECRET };
    const a = await startOutboxGateway(env, t.database);
    const b = await startOutboxGateway(env, await secondConnection(t));
    onTestFinished(async () => {
      await a.close();
      await b.close();
    });
    const ids = await queueRows(a);

    await Promise.all([a.deliver(), b.deliver(), a.deliver(), b.deliver()]);

    expectEachOnce(ids);
    for (const id of ids) expect((await a.row(id)).status).toBe('delivered');
  });

  it('deliver each row once even when their runs overlap without the job lease (a lease that expired mid-run)', async () => {
    const logger = createLogger('silent');
    const sinks = [webhookSink(hook.url, SECRET)];
    const second = await secondConnection(t);
    // Both pools connected beforehand, so neither run is late by a connection set-up.
    await Promise.all([t.database.ping(), second.ping()]);
    const jobA = outboxDelivery({ db: t.database.db, sinks, logger });
    const jobB = outboxDelivery({ db: second.db, sinks, logger });
    const box = await startOutboxGateway({ LITELLM_BASE_URL: sim.url }, t.database);
    onTestFinished(() => box.close());
    const ids = await queueRows(box);

    const [runA, runB] = await Promise.all([jobA.run(Date.now()), jobB.run(Date.now())]);

    expect(Number(runA.delivered ?? 0) + Number(runB.delivered ?? 0)).toBe(ROWS);
    expectEachOnce(ids);
  });
});
