// Closed-loop load generator on an undici Pool: `concurrency` workers, each with one request in
// flight at a time over its own keep-alive connection (connections = concurrency, pipelining 1).

import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export interface LoadOptions {
  /** Origin to hit, e.g. http://127.0.0.1:4000. */
  origin: string;
  path: string;
  body: string;
  headers: Record<string, string>;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Called when the measured window opens and when it closes (e.g. to sample CPU time). */
  onWindowStart?: () => void;
  onWindowEnd?: () => void;
}

export interface LoadResult {
  /** Requests started inside the measured window (successes + errors). */
  requests: number;
  errors: number;
  /** Error rate in [0, 1]. */
  errorRate: number;
  /** Successful requests per second over the measured window. */
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  /** From the window start to the last measured completion. */
  elapsedMs: number;
  /** Up to a few distinct error descriptions ("HTTP 502", "ECONNRESET ..."). */
  errorSamples: string[];
}

const MAX_ERROR_SAMPLES = 5;

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const pool = new Pool(opts.origin, {
    connections: opts.concurrency,
    pipelining: 1,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const latencies: number[] = [];
  const errorSamples = new Set<string>();
  let requests = 0;
  let errors = 0;
  let lastDone = 0;

  const start = performance.now();
  const measureStart = start + opts.warmupMs;
  const measureEnd = measureStart + opts.durationMs;

  const noteError = (what: string): void => {
    if (errorSamples.size < MAX_ERROR_SAMPLES) errorSamples.add(what);
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= measureEnd) return;
      const measured = t0 >= measureStart;
      let ok = false;
      try {
        const res = await pool.request({ path: opts.path, method: 'POST', headers: opts.headers, body: opts.body });
        // Consume the whole body so the connection is reusable and the timing includes it.
        for await (const _chunk of res.body) {
          /* discard */
        }
        ok = res.statusCode >= 200 && res.statusCode < 300;
        if (!ok && measured) noteError(`HTTP ${res.statusCode}`);
      } catch (err) {
        if (measured) noteError(`${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`);
      }
      const t1 = performance.now();
      if (!measured) continue;
      requests++;
      lastDone = Math.max(lastDone, t1);
      if (ok) latencies.push(t1 - t0);
      else errors++;
    }
  };

  // Each hook runs exactly once: on its timer, or at the latest when the workers are done (the
  // last completion can beat a timer that the event loop has not run yet).
  const once = (hook: (() => void) | undefined): (() => void) => {
    let done = false;
    return () => {
      if (!done) hook?.();
      done = true;
    };
  };
  const windowStart = once(opts.onWindowStart);
  const windowEnd = once(opts.onWindowEnd);
  const timers = [setTimeout(windowStart, opts.warmupMs), setTimeout(windowEnd, opts.warmupMs + opts.durationMs)];
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
  } finally {
    for (const timer of timers) clearTimeout(timer);
    windowStart();
    windowEnd();
    await pool.close().catch(() => pool.destroy());
  }

  const elapsedMs = Math.max(lastDone - measureStart, 1);
  const sorted = Float64Array.from(latencies).sort();
  const sum = latencies.reduce((a, b) => a + b, 0);
  return {
    requests,
    errors,
    errorRate: requests === 0 ? 1 : errors / requests,
    rps: (latencies.length * 1000) / elapsedMs,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    meanMs: latencies.length === 0 ? Number.NaN : sum / latencies.length,
    elapsedMs,
    errorSamples: [...errorSamples],
  };
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1]!;
}
