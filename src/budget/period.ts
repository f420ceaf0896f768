import { addDuration, fixedLengthMs, type Duration } from './duration.js';

/** A budget period in epoch ms: spend counts from `startMs` (inclusive) to `endMs` (exclusive). */
export type Period = { startMs: number; endMs: number };

/**
 * The period that holds `nowMs`. Requests see a new period at the boundary even if the reset job
 * has not run (CONTRACT §3), so at `nowMs === endMs` the next one has begun. Later boundaries lie
 * on the grid `stored.endMs + k·duration` (k ≥ 1); missed periods are skipped, not replayed, and k
 * is computed, not stepped to, so years of downtime cost no more than one period.
 */
export function currentPeriod(stored: Period, duration: Duration, nowMs: number): Period {
  if (nowMs < stored.endMs) return stored;
  const k = boundariesPassed(stored.endMs, duration, nowMs);
  return {
    startMs: addDuration(stored.endMs, duration, k),
    endMs: addDuration(stored.endMs, duration, k + 1),
  };
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

/** The largest k ≥ 0 with addDuration(anchorMs, duration, k) <= nowMs, given anchorMs <= nowMs. */
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
