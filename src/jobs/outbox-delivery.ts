import { setTimeout as wait } from 'node:timers/promises';
import type { Db } from '../db/client.js';
import { claimDue, recordDelivered, recordFailedAttempt } from '../db/outbox.js';
import type { Notification } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { Sink } from '../notify/sink.js';
import type { Job, JobSummary } from './scheduler.js';

/**
 * Delivers the notification outbox (CONTRACT section 8): every 2 s, due rows are claimed (never
 * tried first) and handed to each configured sink of their channel that has not accepted them yet.
 * A row is delivered once every sink took it; otherwise it is tried again after a back-off that
 * doubles from 2 s up to 10 minutes, and after MAX_ATTEMPTS it is marked `failed`, kept and
 * logged. Delivery is at least once (a run that dies after sending sends again): receivers
 * de-duplicate on the row id.
 *
 * A run waits for its sends a moment only: a receiver that hangs holds its rows until the send
 * times out, but not the job, so the next runs still send what is new within seconds (the
 * contract's first attempt within 5 s), up to MAX_IN_FLIGHT rows at once.
 */

export const MAX_ATTEMPTS = 10;
const FIRST_RETRY_MS = 2_000;
const LONGEST_RETRY_MS = 10 * 60_000;
/** Rows being sent at once, over all runs of this replica. */
const MAX_IN_FLIGHT = 50;
/** How long a run waits for its sends before it returns, leaving the slow ones to finish. */
const RUN_WAIT_MS = 1_500;
/** Long enough for a whole batch of timeouts; a run that dies frees its rows after this. */
const CLAIM_MS = 5 * 60_000;

/** Wait before the next attempt, after `attempts` failed ones: 2 s, 4 s, 8 s, ... capped at 10 minutes. */
export function retryDelayMs(attempts: number): number {
  return Math.min(FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1), LONGEST_RETRY_MS);
}

export interface OutboxDeliveryOptions {
  readonly db: Db;
  /** The configured sinks; rows of a channel none of them serves stay pending, untouched. */
  readonly sinks: readonly Sink[];
  readonly logger: Logger;
}

type Outcome = 'delivered' | 'retried' | 'failed';

export function outboxDelivery({ db, sinks, logger }: OutboxDeliveryOptions): Job {
  const channels = [...new Set(sinks.map((sink) => sink.channel))];
  let inFlight = 0;

  async function deliver(row: Notification, nowMs: number): Promise<Outcome> {
    const progress = new Set(row.deliveredTo);
    const due = sinks.filter((sink) => sink.channel === row.channel && !progress.has(sink.name));
    const errors: string[] = [];
    await Promise.all(
      due.map(async (sink) => {
        try {
          await sink.deliver(row, progress);
          progress.add(sink.name);
        } catch (err) {
          errors.push(`${sink.name}: ${(err as Error).message}`);
        }
      }),
    );
    const log = { notification: row.id, event: row.event, tenant: row.tenantId, attempts: row.attempts };
    if (errors.length === 0) {
      await recordDelivered(db, row.id, [...progress].sort(), nowMs);
      logger.debug(log, 'notification delivered');
      return 'delivered';
    }
    const lastError = errors.sort().join('; ');
    const gaveUp = row.attempts >= MAX_ATTEMPTS;
    const nextAttemptAtMs = nowMs + retryDelayMs(row.attempts);
    await recordFailedAttempt(db, row.id, { deliveredTo: [...progress].sort(), lastError, nextAttemptAtMs, gaveUp });
    if (gaveUp) logger.error({ ...log, err: lastError }, 'notification failed for good: kept in the outbox as failed');
    else logger.warn({ ...log, err: lastError, retry_at: new Date(nextAttemptAtMs).toISOString() }, 'notification not delivered: will retry');
    return gaveUp ? 'failed' : 'retried';
  }

  return {
    name: 'outbox_delivery',
    schedule: '*/2 * * * * *',
    leaseMs: 60_000,
    async run(nowMs): Promise<JobSummary> {
      if (inFlight >= MAX_IN_FLIGHT) return { still_sending: inFlight };
      const rows = await claimDue(db, { channels, nowMs, claimUntilMs: nowMs + CLAIM_MS, limit: MAX_IN_FLIGHT - inFlight });
      if (rows.length === 0) return {};
      const summary: Record<Outcome, number> = { delivered: 0, retried: 0, failed: 0 };
      inFlight += rows.length;
      const sends = rows.map(async (row) => {
        try {
          summary[await deliver(row, nowMs)]++;
        } catch (err) {
          // Recording failed (database away): the claim lapses and the row is sent again.
          summary.retried++;
          logger.error({ notification: row.id, err: (err as Error).message }, 'could not record a delivery attempt');
        } finally {
          inFlight--;
        }
      });
      const sent = await Promise.race([Promise.all(sends).then(() => true), wait(RUN_WAIT_MS, false, { ref: false })]);
      return sent ? summary : { ...summary, still_sending: rows.length - summary.delivered - summary.retried - summary.failed };
    },
  };
}
