import type { Micros } from './money.js';

/** Where spend stands against a budget (CONTRACT §3); also the `decision` metric label. */
export type BudgetStatus = 'ok' | 'alert' | 'grace' | 'blocked';

/** A budget's lines in micros: spend at or above a line is past it. */
export type BudgetLines = {
  effectiveMicros: Micros;
  alertLineMicros: Micros;
  blockLineMicros: Micros;
};

/**
 * Lines for an effective budget and thresholds in percent (up to 2 decimals, e.g. 80.5). A line
 * is the smallest whole micro-dollar spend s with s / effective >= pct / 100, so "80 % of $100"
 * is exactly $80.000000 and a fractional line rounds up, never below the percentage.
 */
export function budgetLines(
  effectiveMicros: Micros,
  alertThresholdPct: number,
  graceThresholdPct: number,
): BudgetLines {
  if (!Number.isSafeInteger(effectiveMicros) || effectiveMicros < 0) {
    throw new RangeError(`effective budget must be whole micros >= 0, got ${effectiveMicros}`);
  }
  const alert = basisPoints('alert_threshold', alertThresholdPct);
  const grace = basisPoints('grace_threshold', graceThresholdPct);
  if (alert <= 0 || alert > 10_000) {
    throw new RangeError(`alert_threshold must be > 0 and <= 100, got ${alertThresholdPct}`);
  }
  if (grace < 10_000) {
    throw new RangeError(`grace_threshold must be >= 100, got ${graceThresholdPct}`);
  }
  return {
    effectiveMicros,
    alertLineMicros: line(effectiveMicros, alert),
    blockLineMicros: line(effectiveMicros, grace),
  };
}

/**
 * ok below the alert line; alert up to 100 %; grace from 100 % up to the block line; blocked
 * at or above it, and always when the effective budget is 0.
 */
export function statusOf(spendMicros: Micros, lines: BudgetLines): BudgetStatus {
  if (lines.effectiveMicros === 0 || spendMicros >= lines.blockLineMicros) return 'blocked';
  if (spendMicros >= lines.effectiveMicros) return 'grace';
  if (spendMicros >= lines.alertLineMicros) return 'alert';
  return 'ok';
}

/**
 * Admission (CONTRACT §3): spend plus what is in flight must be below the block line. The new
 * request's own estimate need not fit; that is why the guarantee is "at most one request over".
 */
export function admits(spendMicros: Micros, reservedMicros: Micros, blockLineMicros: Micros): boolean {
  // A zero budget has a zero block line, below which nothing is: blocked with no special case.
  return spendMicros + reservedMicros < blockLineMicros;
}

/**
 * spend / effective. A zero budget reads as 1 (fully used), whatever was spent: it is blocked,
 * and a dashboard should show it with the exhausted budgets, not at 0 % nor as Infinity, which
 * JSON cannot carry and which flattens every other series on a graph's axis.
 */
export function utilization(spendMicros: Micros, effectiveMicros: Micros): number {
  return effectiveMicros > 0 ? spendMicros / effectiveMicros : 1;
}

/** A percentage with up to 2 decimals as whole basis points (80.5 → 8050). */
function basisPoints(name: string, pct: number): number {
  const bp = Math.round(pct * 100);
  // bp / 100 is the double nearest the 2-decimal value, so it equals pct only if pct is one.
  if (!Number.isSafeInteger(bp) || bp / 100 !== pct) {
    throw new RangeError(`${name} must be a percentage with at most 2 decimals, got ${pct}`);
  }
  return bp;
}

/** ceil(effective × bp / 10000) in BigInt: micros × basis points can pass 2^53. */
function line(effectiveMicros: Micros, bp: number): Micros {
  const exact = (BigInt(effectiveMicros) * BigInt(bp) + 9_999n) / 10_000n;
  // A line past every representable spend is as good as infinite.
  return exact > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(exact);
}
