import type { Database } from '../db/client.js';
import { driverError, isUnwritableRow, sqlState } from '../db/errors.js';
import { setAsideEvents, writeLedgerEvents, type RefusedEvent } from '../db/ledger.js';
import type { Logger } from '../logger.js';
import type { LedgerSink } from './usage-event.js';

/**
 * What both ledger pipelines write their batches with. A batch goes in whole
 * (`writeLedgerEvents`). When the table refuses the rows themselves (`isUnwritableRow`: a value
 * it cannot hold, an event that is not JSON), a retry would be refused the same way, and every
 * event behind the batch would wait for ever. So the batch is split (`writeSplitting`) until the
 * events refused on their own are found; they are set aside in `usage_set_aside` with the reason
 * and logged, and the rest of the batch goes into the ledger. Any other failure (the database
 * away, out of disk) fails the batch, for the pipeline to retry it whole, as before.
 */
export function ledgerSink(database: Pick<Database, 'db' | 'copyJson'>, logger: Logger): LedgerSink {
  return async (events) => {
    const refused: RefusedEvent[] = [];
    const written = await writeSplitting(events, (batch) => writeLedgerEvents(database, batch), refused);
    if (refused.length > 0) {
      // Before the batch is taken as written: if this fails, the pipeline retries all of it.
      await setAsideEvents(database.db, refused);
      const [first] = refused;
      logger.error(
        { events: refused.length, event: first!.event, reason: first!.reason },
        'ledger: usage events the ledger table refuses were set aside in usage_set_aside (README, "Usage events set aside")',
      );
    }
    return written;
  };
}

/**
 * Writes `events` with `write`, all or nothing per call; where the rows themselves are refused,
 * the halves are written on their own, down to single events, and those refused alone are added
 * to `refused` instead. Resolves with the rows written (as `write` counts them). An event in a
 * batch of n costs about 2·log2(n) writes to find, and only when the table refuses one.
 */
export async function writeSplitting(
  events: readonly string[],
  write: (events: readonly string[]) => Promise<number>,
  refused: RefusedEvent[],
): Promise<number> {
  try {
    return await write(events);
  } catch (err) {
    if (!isUnwritableRow(err)) throw err;
    if (events.length === 1) {
      refused.push({ event: events[0]!, reason: describeRefusal(err) });
      return 0;
    }
    const half = Math.ceil(events.length / 2);
    return (await writeSplitting(events.slice(0, half), write, refused)) + (await writeSplitting(events.slice(half), write, refused));
  }
}

/** The driver's own message (drizzle's is the SQL), led by PostgreSQL's SQLSTATE when there is one. */
function describeRefusal(err: unknown): string {
  const cause = driverError(err);
  const text = (cause as { message?: unknown } | null)?.message;
  const message = typeof text === 'string' ? text : String(cause);
  const code = sqlState(err);
  return code === undefined ? message : `${code}: ${message}`;
}
