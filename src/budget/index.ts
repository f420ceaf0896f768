/** The budget domain: pure functions over integer micro-dollars and epoch milliseconds, no I/O. */
export {
  costFromUsage,
  estimateCost,
  parseResponseCost,
  type ModelPrice,
  type TokenUsage,
} from './cost.js';
export { addDuration, parseDuration, parseOverrideDuration, type Duration } from './duration.js';
export { estimateTokens, type EstimateInput, type EstimateOptions } from './estimate.js';
export { formatUsd, microsToUsd, usdToMicros, type Micros } from './money.js';
export { effectiveBudget, type Override } from './override.js';
export { currentPeriod, firstPeriod, replacedPeriod, type Period } from './period.js';
export {
  admits,
  budgetLines,
  statusOf,
  utilization,
  type BudgetLines,
  type BudgetStatus,
} from './thresholds.js';
