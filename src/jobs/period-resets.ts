import { parseDuration, type Duration } from '../budget/duration.js';
import { formatUsd, microsToUsd } from '../budget/money.js';
import { currentPeriod, type Period } from '../budget/period.js';
import { tenantBucket } from '../budget/scopes.js';
import type { BucketState, SpendStore } from '../budget/spend-store.js';
import { queueNotifications } from '../db/audit.js';
import type { Db } from '../db/client.js';
import { periodSpends } from '../db/ledger.js';
import { recordResets, type PeriodRow } from '../db/resets.js';
import type { Logger } from '../logger.js';
import { litellmSync } from '../notify/litellm-sync.js';
import { withRetries } from './retry.js';

/**
 * What every budget reset writes, scheduled or manual (CONTRACT sections 3, 6, 8): the new
 * periods, a `budget_reset` audit entry and a notification per tenant, and with LiteLLM sync a
 * row that resets the spend of the tenant's LiteLLM keys. All in the caller's transaction, a batch
 * at a time, so a reset and its records commit together or not at all.
 */

export interface ResetDeps {
  readonly store: SpendStore;
  readonly logger: Logger;
  /** LITELLM_MASTER_KEY is set: resets are mirrored onto the tenant's LiteLLM keys. */
  readonly litellmSync: boolean;
}

/** One tenant's reset: the period that closes (its spend is `old_spend`) and the one stored now. */
export interface PeriodReset {
  readonly tenantId: string;
  readonly maxBudgetMicros: number;
  readonly closing: Period;
  readonly next: Period;
}

/** A tenant row's period in domain terms. */
function periodGrid(row: PeriodRow): { stored: Period; duration: Duration; anchorMs: number } {
  return {
    stored: { startMs: row.periodStartedAt.getTime(), endMs: row.budgetResetAt.getTime() },
    duration: parseDuration(row.budgetDuration),
    anchorMs: (row.periodAnchorAt ?? row.budgetResetAt).getTime(),
  };
}

/** A store that does not answer is retried briefly; after that the ledger answers for it. */
const STORE_RETRY_MS = [200, 1_000];

export async function applyResets(tx: Db, deps: ResetDeps, resets: readonly PeriodReset[], actor: string): Promise<void> {
  if (resets.length === 0) return;
  const oldSpends = await closingSpends(tx, deps, resets);
  await recordResets(
    tx,
    resets.map((r, i) => ({
      tenantId: r.tenantId,
      startedAt: new Date(r.next.startMs),
      resetAt: new Date(r.next.endMs),
      oldSpendUsd: microsToUsd(oldSpends[i]!),
      newBudgetUsd: microsToUsd(r.maxBudgetMicros),
      message: `Your budget has been reset to $${formatUsd(r.maxBudgetMicros)} for the new period`,
    })),
    actor,
  );
  if (deps.litellmSync) await queueNotifications(tx, ...resets.map((r) => litellmSync.resetSpend(r.tenantId)));
}

/**
 * Each closing period's spend: from the store in one read for the batch, and from the ledger (one
 * grouped query) for the periods the store does not know, e.g. after Redis lost them or once the
 * in-process store was restarted.
 */
async function closingSpends(tx: Db, deps: ResetDeps, resets: readonly PeriodReset[]): Promise<number[]> {
  const keys = resets.map((r) => tenantBucket(r.tenantId, r.closing.startMs, 'usd'));
  const states = await withRetries(() => deps.store.read(keys), { delaysMs: STORE_RETRY_MS }).catch(
    (err: Error): (BucketState | undefined)[] => {
      deps.logger.warn({ err: err.message }, 'budget reset: spend store unreadable, old_spend taken from the ledger');
      return keys.map(() => undefined);
    },
  );
  const unknown = resets.filter((_, i) => states[i] === undefined);
  const ledger = await periodSpends(
    tx,
    unknown.map((r) => ({ tenantId: r.tenantId, periodStartedAt: new Date(r.closing.startMs) })),
  );
  const byPeriod = new Map(ledger.map((row) => [`${row.tenantId}@${row.periodStartedAt.getTime()}`, row.costMicros]));
  return resets.map((r, i) => states[i]?.spend ?? byPeriod.get(`${r.tenantId}@${r.closing.startMs}`) ?? 0);
}

/** The reset the schedule owes a due tenant: to the period that holds `nowMs`, skipping missed ones. */
export function scheduledReset(row: PeriodRow, nowMs: number): PeriodReset {
  const { stored, duration, anchorMs } = periodGrid(row);
  const next = currentPeriod(stored, duration, nowMs, anchorMs);
  // The period just before the new one, which after missed runs is not the stored one.
  const closing = currentPeriod(stored, duration, next.startMs - 1, anchorMs);
  return { tenantId: row.tenantId, maxBudgetMicros: row.maxBudgetMicros, closing, next };
}

/** A reset on demand: a new period from `nowMs` to the current period's end, so the grid stays. */
export function manualReset(row: PeriodRow, nowMs: number): PeriodReset {
  const { stored, duration, anchorMs } = periodGrid(row);
  const closing = currentPeriod(stored, duration, nowMs, anchorMs);
  return { tenantId: row.tenantId, maxBudgetMicros: row.maxBudgetMicros, closing, next: { startMs: nowMs, endMs: closing.endMs } };
}
