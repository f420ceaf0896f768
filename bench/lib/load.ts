// Closed-loop load generator on an undici Pool: `concurrency` workers, each with one request in
// flight at a time over its own keep-alive connection (connections = concurrency, pipelining 1).
// Every response body is read to its end; streamed responses are timed event by event.

import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { type Percentiles, percentiles } from './stats.js';
import { type StreamTiming, timeStream } from './stream-timing.js';

export { percentile } from './stats.js';

export type HeaderSource = Record<string, string> | ((i: number) => Record<string, string>);

export interface RequestShape {
  path: string;
  body: string | Buffer;
  /** Fixed headers, or one set per request number (e.g. to spread the load over many keys). */
  headers: HeaderSource;
  /** Time the response as a server-sent event stream with this many paced events. */
  streamPieces?: number;
}

export interface LoadOptions extends RequestShape {
  /** Origin to hit, e.g. http://127.0.0.1:4000. */
  origin: string;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Stop after this many measured requests even if the window is not over (a soak by count). */
  maxRequests?: number;
  /** Called when the measured window opens and when it closes (e.g. to sample CPU time). */
  onWindowStart?: () => void;
  onWindowEnd?: () => void;
}

export interface StreamStats {
  ttfb: Percentiles;
  /** Arrival gaps in front of paced events. */
  gap: Percentiles;
  total: Percentiles;
  gaps: number;
}

export interface LoadResult extends Percentiles {
  /** Requests started inside the measured window (successes + errors). */
  requests: number;
  /** Every request completed, warm-up included (for the RSS-per-request bookkeeping). */
  completed: number;
  errors: number;
  /** Error rate in [0, 1]. */
  errorRate: number;
  /** Successful requests per second over the measured window. */
  rps: number;
  /** From the window start to the last measured completion. */
  elapsedMs: number;
  /** Up to a few distinct error descriptions ("HTTP 502", "ECONNRESET ..."). */
  errorSamples: string[];
  stream?: StreamStats;
}

const MAX_ERROR_SAMPLES = 5;

export function headersFor(source: HeaderSource, i: number): Record<string, string> {
  return typeof source === 'function' ? source(i) : source;
}

/** Collects one run's outcomes; shared with the open-loop generator. */
export class Tally {
  readonly latencies: number[] = [];
  readonly errorSamples = new Set<string>();
  readonly timings: StreamTiming[] = [];
  requests = 0;
  errors = 0;
  completed = 0;
  lastDone = 0;

  error(what: string): void {
    if (this.errorSamples.size < MAX_ERROR_SAMPLES) this.errorSamples.add(what);
  }

  result(windowMs: number): LoadResult {
    const ok = this.latencies.length;
    return {
      requests: this.requests,
      completed: this.completed,
      errors: this.errors,
      errorRate: this.requests === 0 ? 1 : this.errors / this.requests,
      rps: (ok * 1000) / Math.max(windowMs, 1),
      ...percentiles(this.latencies),
      elapsedMs: windowMs,
      errorSamples: [...this.errorSamples],
      ...(this.timings.length > 0 ? { stream: streamStats(this.timings) } : {}),
    };
  }
}

function streamStats(timings: readonly StreamTiming[]): StreamStats {
  const gaps = timings.flatMap((t) => t.gapsMs);
  return { ttfb: percentiles(timings.map((t) => t.ttfbMs)), gap: percentiles(gaps), total: percentiles(timings.map((t) => t.totalMs)), gaps: gaps.length };
}

/** Sends one request, reads (or times) its body; returns undefined on success, else why it failed. */
export async function exchange(pool: Pool, shape: RequestShape, i: number, sentAt: number, timings?: StreamTiming[]): Promise<string | undefined> {
  try {
    const res = await pool.request({ path: shape.path, method: 'POST', headers: headersFor(shape.headers, i), body: shape.body });
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    if (ok && shape.streamPieces !== undefined) {
      const timing = await timeStream(res.body, sentAt, shape.streamPieces);
      if (timing.gapsMs.length < shape.streamPieces) return `stream: ${timing.events} events, expected more than ${shape.streamPieces}`;
      timings?.push(timing);
      return undefined;
    }
    // Consume the whole body so the connection is reusable and the timing includes it.
    for await (const _chunk of res.body) {
      /* discard */
    }
    return ok ? undefined : `HTTP ${res.statusCode}`;
  } catch (err) {
    return `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`;
  }
}

/** Each hook runs exactly once: on its timer, or at the latest when the run is over. */
export function onceHook(hook: (() => void) | undefined): () => void {
  let done = false;
  return () => {
    if (!done) hook?.();
    done = true;
  };
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const pool = new Pool(opts.origin, { connections: opts.concurrency, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const tally = new Tally();
  const start = performance.now();
  const measureStart = start + opts.warmupMs;
  const measureEnd = measureStart + opts.durationMs;
  const limit = opts.maxRequests ?? Number.POSITIVE_INFINITY;
  let sequence = 0;

  const worker = async (): Promise<void> => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= measureEnd || tally.requests >= limit) return;
      const measured = t0 >= measureStart;
      if (measured) tally.requests++;
      const failure = await exchange(pool, opts, sequence++, t0, measured ? tally.timings : undefined);
      const t1 = performance.now();
      tally.completed++;
      if (!measured) continue;
      tally.lastDone = Math.max(tally.lastDone, t1);
      if (failure === undefined) tally.latencies.push(t1 - t0);
      else {
        tally.errors++;
        tally.error(failure);
      }
    }
  };

  const windowStart = onceHook(opts.onWindowStart);
  const windowEnd = onceHook(opts.onWindowEnd);
  const timers = [setTimeout(windowStart, opts.warmupMs), setTimeout(windowEnd, opts.warmupMs + opts.durationMs)];
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
  } finally {
    for (const timer of timers) clearTimeout(timer);
    windowStart();
    windowEnd();
    await pool.close().catch(() => pool.destroy());
  }
  return tally.result(tally.lastDone - measureStart);
}
