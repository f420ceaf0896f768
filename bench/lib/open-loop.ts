// Open-loop load generator: requests are sent on a fixed schedule (`ratePerS`, evenly spaced),
// whether or not earlier ones have been answered, as real clients would. Latency is measured from
// each request's *scheduled* send time, so a target that falls behind is charged for the queue it
// builds instead of slowing the generator down (no coordinated omission).

import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { type LoadResult, type RequestShape, Tally, exchange, onceHook } from './load.js';

export interface OpenLoopOptions extends RequestShape {
  origin: string;
  ratePerS: number;
  warmupMs: number;
  durationMs: number;
  /** Most requests in flight; a scheduled request beyond it is dropped and counted as an error. */
  maxInFlight?: number;
  onWindowStart?: () => void;
  onWindowEnd?: () => void;
}

export interface OpenLoopResult extends LoadResult {
  offeredRps: number;
  /** Successful measured requests ÷ the window length (not ÷ the time the last one took). */
  achievedRps: number;
  /** Scheduled requests not sent because `maxInFlight` were outstanding. */
  dropped: number;
}

const DEFAULT_MAX_IN_FLIGHT = 512;
const TICK_MS = 1;

export async function runOpenLoop(opts: OpenLoopOptions): Promise<OpenLoopResult> {
  const maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const pool = new Pool(opts.origin, { connections: maxInFlight, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const tally = new Tally();
  const intervalMs = 1000 / opts.ratePerS;
  const start = performance.now();
  const measureStart = start + opts.warmupMs;
  const measureEnd = measureStart + opts.durationMs;
  const pending = new Set<Promise<void>>();
  let scheduled = 0;
  let dropped = 0;

  const send = (i: number, dueAt: number): void => {
    const measured = dueAt >= measureStart;
    if (measured) tally.requests++;
    if (pending.size >= maxInFlight) {
      if (measured) {
        dropped++;
        tally.errors++;
        tally.error(`dropped: ${maxInFlight} requests in flight`);
      }
      return;
    }
    const done = exchange(pool, opts, i, dueAt, measured ? tally.timings : undefined).then((failure) => {
      pending.delete(done);
      tally.completed++;
      if (!measured) return;
      const t1 = performance.now();
      tally.lastDone = Math.max(tally.lastDone, t1);
      if (failure === undefined) tally.latencies.push(t1 - dueAt);
      else {
        tally.errors++;
        tally.error(failure);
      }
    });
    pending.add(done);
  };

  const windowStart = onceHook(opts.onWindowStart);
  const windowEnd = onceHook(opts.onWindowEnd);
  const timers = [setTimeout(windowStart, opts.warmupMs), setTimeout(windowEnd, opts.warmupMs + opts.durationMs)];
  try {
    // Each tick sends every request that has come due since the last one, stamped with the time
    // it was due: timer slack in this process delays the send but is not hidden from the latency.
    await new Promise<void>((resolve) => {
      const ticker = setInterval(() => {
        const now = performance.now();
        for (let dueAt = start + scheduled * intervalMs; dueAt <= now && dueAt < measureEnd; dueAt = start + scheduled * intervalMs) {
          send(scheduled++, dueAt);
        }
        if (now >= measureEnd) {
          clearInterval(ticker);
          resolve();
        }
      }, TICK_MS);
    });
    await Promise.all(pending);
  } finally {
    for (const timer of timers) clearTimeout(timer);
    windowStart();
    windowEnd();
    await pool.close().catch(() => pool.destroy());
  }
  const result = tally.result(opts.durationMs);
  return { ...result, offeredRps: opts.ratePerS, achievedRps: result.rps, dropped };
}
