import type { Db } from '../db/client.js';
import { claimDueTenants } from '../db/resets.js';
import { resetGlobalIfDue } from './global-reset.js';
import { applyResets, scheduledReset, type ResetDeps } from './period-resets.js';
import type { Job, JobSummary } from './scheduler.js';

/**
 * The budget reset job (CONTRACT sections 3 and 9): rolls every tenant whose period has ended to
 * the period that holds now, writing the audit entry and the notifications of each reset.
 *
 * It publishes no cache invalidation, because none is needed: a cached tenant holds the stored
 * period and the grid anchor, and the hot path already computes the period that holds now from
 * them (currentPeriod). The job stores exactly that period and leaves the anchor alone, so a
 * replica with the old row and one with the new row compute the same period at every later moment
 * (the property test in test/budget/period.test.ts). Requests saw the new period at the boundary;
 * the job only catches the records up.
 */

export interface BudgetResetJobDeps extends ResetDeps {
  readonly db: Db;
  /** Tenants per transaction: large, so that statements, not rows, stay few. */
  readonly batchSize?: number;
  /** Batches in flight at once, each in its own transaction. */
  readonly concurrency?: number;
}

export const BUDGET_RESET_JOB = 'budget_reset';
const ACTOR = `job:${BUDGET_RESET_JOB}`;
// Measured with bench/reset-job.ts (100,000 tenants, 2 cores): two transactions at a time let
// PostgreSQL work on one batch while the next is computed and sent; more only queue for the cores.
export const DEFAULT_BATCH_SIZE = 5_000;
export const DEFAULT_CONCURRENCY = 2;

export function budgetResetJob(deps: BudgetResetJobDeps, schedule: string): Job {
  return {
    name: BUDGET_RESET_JOB,
    schedule,
    leaseMs: 10 * 60_000,
    run: (nowMs) => resetDueTenants(deps, nowMs),
  };
}

interface Progress {
  reset: number;
  batches: number;
  /** Tenants of failed batches: left out for the rest of the run, still due for the next one. */
  readonly failed: string[];
}

/**
 * Resets every tenant due at `nowMs`, in batches until none is left. Concurrent batches never
 * share a tenant (claims skip locked rows). A batch that fails is logged and the others go on.
 */
export async function resetDueTenants(deps: BudgetResetJobDeps, nowMs: number): Promise<JobSummary> {
  const globalReset = await resetGlobalIfDue(deps.db, deps, nowMs, ACTOR);
  const progress: Progress = { reset: 0, batches: 0, failed: [] };
  const workers = Array.from({ length: deps.concurrency ?? DEFAULT_CONCURRENCY }, () => resetInBatches(deps, nowMs, progress));
  const failure = (await Promise.allSettled(workers)).find((w) => w.status === 'rejected');
  if (failure) throw failure.reason;
  const { reset, batches, failed } = progress;
  const global: JobSummary = globalReset ? { global: 1 } : {};
  if (reset === 0 && failed.length === 0) return global;
  return failed.length === 0 ? { reset, batches, ...global } : { reset, batches, failed: failed.length, ...global };
}

/** One worker: batch after batch until a claim comes back short (the rest is due to nobody or locked by a peer). */
async function resetInBatches(deps: BudgetResetJobDeps, nowMs: number, progress: Progress): Promise<void> {
  const batchSize = deps.batchSize ?? DEFAULT_BATCH_SIZE;
  for (;;) {
    let claimed: string[] | undefined;
    try {
      const count = await deps.db.transaction(async (tx) => {
        const due = await claimDueTenants(tx, new Date(nowMs), batchSize, progress.failed);
        claimed = due.map((row) => row.tenantId);
        await applyResets(tx, deps, due.map((row) => scheduledReset(row, nowMs)), ACTOR);
        return due.length;
      });
      if (count === 0) return;
      progress.reset += count;
      progress.batches += 1;
      if (count < batchSize) return;
    } catch (err) {
      // Before a claim the database itself is failing: nothing more to try in this run.
      if (claimed === undefined) throw err;
      deps.logger.error({ job: BUDGET_RESET_JOB, tenants: claimed.length, err: (err as Error).message }, 'budget reset batch failed');
      progress.failed.push(...claimed);
    }
  }
}
