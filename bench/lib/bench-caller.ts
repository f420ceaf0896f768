import type { Duration } from '../../src/budget/duration.js';
import type { Period } from '../../src/budget/period.js';
import type { Caller } from '../../src/guard/tenant-directory.js';

/** The tenant every target's requests are charged to, and its budget: never reached during a run. */
export const BENCH_TENANT = 'bench';
export const BENCH_BUDGET_USD = 1_000_000;

/**
 * The bench's tenant as the budget code sees it (alert at 80 %, block at 110 %, no
 * override, no other scopes), calling with a registered key: the plain proxy's one caller, and
 * the loop's (bench/enforcement-loop.ts). Plain data only, so both can pass in their own
 * checkout's duration and period.
 */
export function benchCaller(keyId: string, duration: Duration, period: Period): Caller {
  return {
    keyId,
    origin: 'registered',
    keyBudgetMicros: null,
    tenant: {
      tenantId: BENCH_TENANT,
      maxBudgetMicros: BENCH_BUDGET_USD * 1_000_000,
      alertThresholds: [80],
      graceThreshold: 110,
      duration,
      period,
      anchorMs: period.endMs,
      upstreamKey: null,
      override: undefined,
      modelBudgets: null,
      maxTokens: null,
      maxRequests: null,
    },
  };
}
