import type { Micros } from './money.js';

/** A temporary budget increase (CONTRACT §6): active while now < expiresAtMs. */
export type Override = { amountMicros: Micros; expiresAtMs: number };

/**
 * max_budget plus the override while it is active. Expiry is decided here, from `nowMs`, not by
 * the clean-up job: a request one millisecond after `expiresAtMs` already sees the plain budget.
 */
export function effectiveBudget(
  maxMicros: Micros,
  override: Override | undefined,
  nowMs: number,
): Micros {
  if (override === undefined || nowMs >= override.expiresAtMs) return maxMicros;
  // Each amount is a safe integer; only their sum can leave that range, and a budget that large
  // is unbounded in practice.
  return Math.min(maxMicros + override.amountMicros, Number.MAX_SAFE_INTEGER);
}
