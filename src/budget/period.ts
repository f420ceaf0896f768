import { addDuration, fixedLengthMs, type Duration } from './duration.js';

/** A budget period in epoch ms: spend counts from `startMs` (inclusive) to `endMs` (exclusive). */
export type Period = { startMs: number; endMs: number };

/**
 * The period that holds `nowMs`. Requests see a new period at the boundary even if the reset job
 * has not run (CONTRACT §3), so at `nowMs === endMs` the next one has begun. Boundaries lie on the
 * grid `anchorMs + k·duration` (`stored.endMs` must be one of them): the grid, not the stored end,
 * because calendar months clamp. From a stored end of Jan 31 the job stores Feb 28, and stepping on
 * from there would give Mar 28 where a replica still holding Jan 31 computes Mar 31. Missed
 * periods are skipped, not replayed, and k is computed, not stepped to, so years of downtime cost
 * no more than one period.
 */
export function currentPeriod(stored: Period, duration: Duration, nowMs: number, anchorMs = stored.endMs): Period {
  if (nowMs < stored.endMs) return stored;
  const k = boundariesPassed(anchorMs, duration, nowMs);
  return {
    startMs: addDuration(anchorMs, duration, k),
    endMs: addDuration(anchorMs, duration, k + 1),
  };
}

/**
 * The period and grid anchor after a tenant's configuration is replaced (CONTRACT §3), from the
 * period current at the time: a new `budget_reset_at` moves its end and the grid goes on from
 * there; a new duration applies from the next reset, so the grid restarts at its end. Undefined
 * when neither changes: the stored period and grid stay as they are. Echoing the current end back
 * (a client's read-modify-write) is no change, or a grid clamped to Feb 28 would stay on the 28th.
 */
export function replacedPeriod(
  current: Period,
  duration: Duration,
  change: { readonly duration: Duration; readonly resetAtMs?: number | undefined },
): { period: Period; anchorMs: number } | undefined {
  if (change.resetAtMs !== undefined && change.resetAtMs !== current.endMs) {
    return { period: { startMs: current.startMs, endMs: change.resetAtMs }, anchorMs: change.resetAtMs };
  }
  const same = change.duration.count === duration.count && change.duration.unit === duration.unit;
  return same ? undefined : { period: current, anchorMs: current.endMs };
}

/**
 * A new tenant's first period: from creation to `budget_reset_at` when given, else to one
 * `duration` later. A `resetAtMs` not after creation is treated as a grid point already passed,
 * so the period still starts at creation and ends at the next boundary on that grid.
 */
export function firstPeriod(createdMs: number, duration: Duration, resetAtMs?: number): Period {
  if (resetAtMs === undefined) {
    return { startMs: createdMs, endMs: addDuration(createdMs, duration) };
  }
  const { endMs } = currentPeriod({ startMs: createdMs, endMs: resetAtMs }, duration, createdMs);
  return { startMs: createdMs, endMs };
}

/** The largest k with addDuration(anchorMs, duration, k) <= nowMs. */
function boundariesPassed(anchorMs: number, duration: Duration, nowMs: number): number {
  const length = fixedLengthMs(duration);
  // Integer division of safe integers is exact under Math.floor; months are estimated from the
  // calendar (the boundary k lies in month anchor + k·count) and are at most one too far.
  const k =
    length !== undefined
      ? Math.floor((nowMs - anchorMs) / length)
      : Math.floor(monthsBetween(anchorMs, nowMs) / duration.count);
  return addDuration(anchorMs, duration, k) > nowMs ? k - 1 : k;
}

function monthsBetween(fromMs: number, toMs: number): number {
  const from = new Date(fromMs);
  const to = new Date(toMs);
  return (
    (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + (to.getUTCMonth() - from.getUTCMonth())
  );
}
