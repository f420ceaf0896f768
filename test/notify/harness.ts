import { and, desc, eq } from 'drizzle-orm';
import { vi } from 'vitest';
import { queueNotifications, type QueuedNotification } from '../../src/db/audit.js';
import type { Database } from '../../src/db/client.js';
import { notificationOutbox, type Notification } from '../../src/db/schema.js';
import { openTestDatabase, type TestDatabase } from '../support/databases.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

/**
 * A gateway on a database of its own (so no other test's rows are delivered here) with a clock
 * the test moves: back-off is tested by moving it, not by waiting.
 */
export interface OutboxGateway {
  readonly gateway: TestGateway;
  readonly database: Database;
  /** The gateway's clock, in ms; tests move it forward. */
  nowMs: number;
  /** Runs the outbox_delivery job once, after any run the cron started meanwhile. */
  deliver(): Promise<void>;
  /** Writes a row the way admin routes and jobs do, and returns it. */
  queue(notification: QueuedNotification): Promise<Notification>;
  row(id: string): Promise<Notification>;
  close(): Promise<void>;
}

export async function startOutboxGateway(env: Record<string, string>, shared?: Database): Promise<OutboxGateway> {
  const own: TestDatabase | undefined = shared ? undefined : await openTestDatabase();
  const database = shared ?? own!.database;
  const db = database.db;
  const harness = { nowMs: Date.now() } as OutboxGateway;
  const gateway = await startTestGateway(env, { database, now: () => harness.nowMs });
  const row = async (id: string) => (await db.select().from(notificationOutbox).where(eq(notificationOutbox.id, id)))[0]!;
  return Object.assign(harness, {
    gateway,
    database,
    row,
    async deliver() {
      const outcome = await vi.waitFor(
        async () => {
          const ran = await gateway.services.scheduler.runNow('outbox_delivery');
          if (ran === 'skipped') throw new Error('the cron is running the job right now');
          return ran;
        },
        { timeout: 15_000, interval: 20 },
      );
      if (outcome !== 'success') throw new Error(`outbox_delivery ended with ${outcome}`);
    },
    async queue(notification: QueuedNotification) {
      await queueNotifications(db, notification);
      const [queued] = await db
        .select()
        .from(notificationOutbox)
        .where(and(eq(notificationOutbox.event, notification.event), eq(notificationOutbox.tenantId, notification.tenantId!)))
        .orderBy(desc(notificationOutbox.occurredAt))
        .limit(1);
      return queued!;
    },
    async close() {
      await gateway.shutdown();
      await own?.close();
    },
  });
}
