// Small statistics shared by the load generators and the reports: percentiles of one run,
// and the median with its range over repetitions.

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1]!;
}

export interface Percentiles {
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
}

export function percentiles(samples: readonly number[]): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const x of samples) sum += x;
  return {
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    meanMs: samples.length === 0 ? Number.NaN : sum / samples.length,
  };
}

/** Median of the finite values; NaN when there are none. */
export function median(xs: readonly number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A measure over repetitions: its median and range. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(xs: readonly (number | null | undefined)[]): Spread {
  const known = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (known.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  return { median: median(known), min: Math.min(...known), max: Math.max(...known), n: known.length };
}
