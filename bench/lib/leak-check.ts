// The leak check: RSS of each product gateway at a base point, and again after it has served
// `soakRequests` more requests. Both points are taken in the same condition: right after a whole
// repetition of the scenarios (whose last is the 10,000-key run) and then a closed-loop run of
// 10,000 small chat requests at concurrency 64. The base follows the first repetition, the end
// the last one and the soak. V8 sizes its heap to the recent allocation rate and to what the
// last scenarios kept alive (10,000 tenants' state, 1 MB bodies), and shrinks it when a process
// idles, so RSS read after different scenarios differs by tens of MB without any leak: the Redis
// gateway's RSS, with the live heap flat, moved between 140 and 289 MB over one run, highest
// right after the 10,000-key runs. An earlier base, the c=64 run in the middle of the second
// repetition, was compared with an end that followed the 10,000-key run, and read up to +28 %.
// Even with both points after the same runs, RSS after a full GC has read from −11 % to +24 %
// over about 200,000 requests with the live heap flat, so the table shows the heap beside it.
// Portkey (not soaked, no 10,000-key run) keeps that mid-repetition base.

import { runLoad } from './load.js';
import type { MemoryLedger } from './rss.js';
import { type RequestContext, type Scenario, requestFor } from './scenarios.js';
import type { MemoryRow } from './tables.js';
import { ENFORCING, type Target } from './targets.js';

export const PRODUCT: readonly Target[] = ['plain', ...ENFORCING];
export const AFTER_WARMUP = 'after warm-up';
export const AFTER_SOAK = 'after soak';
export const AT_END = 'end';
export const AT_BASE = 'base';
/** The c=64 run before the base point, and the shortest soak, so both points follow the same. */
const SETTLE_REQUESTS = 10_000;

/** The label of run `scenarioId` in repetition `rep`, as recorded after every run. */
export const runLabel = (rep: number, scenarioId: string): string => `rep ${rep} ${scenarioId}`;

export interface SoakSettings {
  soakRequests: number;
  /** Longest a soak may take for this target. */
  capMs: (remainingTargets: number) => number;
  log: (line: string) => void;
}

/**
 * The base point of each product gateway: a c=64 run of SETTLE_REQUESTS, then its RSS and heap,
 * then `rewarm` (the heap probe's full GC leaves it slower for a while, and the runs go on).
 */
export async function markBase(
  scenario: Scenario,
  available: readonly Target[],
  urls: ReadonlyMap<Target, string>,
  memory: MemoryLedger,
  ctx: RequestContext,
  log: (line: string) => void,
  rewarm: (target: Target) => Promise<void>,
): Promise<void> {
  for (const target of PRODUCT.filter((t) => available.includes(t))) {
    const result = await runLoad({ origin: urls.get(target)!, ...requestFor(scenario, target, ctx), concurrency: 64, warmupMs: 0, durationMs: 60_000, maxRequests: SETTLE_REQUESTS });
    memory.count(target, result.completed);
    memory.mark(AT_BASE, { only: [target] });
    await memory.addHeap(target, AT_BASE);
    await rewarm(target);
    log(`leak check: base of ${target} after ${result.completed} more requests at c=64, ${result.errors} errors`);
  }
}

/** The base point's label for a target: our gateways' own base run, or Portkey's mid-run one. */
export function baseLabelOf(target: Target, peerBase: string): string {
  return PRODUCT.includes(target) ? AT_BASE : peerBase;
}

/** Tops each product gateway up to `soakRequests` served since the base point, then marks its RSS. */
export async function soak(scenario: Scenario, available: readonly Target[], urls: ReadonlyMap<Target, string>, memory: MemoryLedger, ctx: RequestContext, s: SoakSettings): Promise<void> {
  const targets = PRODUCT.filter((t) => available.includes(t));
  for (const [i, target] of targets.entries()) {
    const base = memory.point(target, AT_BASE);
    if (base === undefined || s.soakRequests === 0) continue;
    const need = Math.max(SETTLE_REQUESTS, s.soakRequests - (memory.served(target) - base.served));
    const started = Date.now();
    const capMs = s.capMs(targets.length - i);
    s.log(`soak: ${need} requests to ${target} (c=64, at most ${Math.round(capMs / 1000)} s) for the RSS check`);
    const result = await runLoad({ origin: urls.get(target)!, ...requestFor(scenario, target, ctx), concurrency: 64, warmupMs: 0, durationMs: capMs, maxRequests: need });
    memory.count(target, result.completed);
    memory.mark(AFTER_SOAK, { only: [target] });
    await memory.addHeap(target, AFTER_SOAK);
    s.log(`soak: ${target} served ${result.completed} in ${((Date.now() - started) / 1000).toFixed(1)} s, ${result.errors} errors`);
  }
}

/**
 * Growth is judged on RSS after a full GC at both points (the heap probe), so garbage not yet
 * collected does not count as growth; without the probe, on RSS as sampled.
 */
export function memoryRows(available: readonly Target[], memory: MemoryLedger, peaks: ReadonlyMap<Target, number | null>, peerBase: string): MemoryRow[] {
  const mb = (kb: number | undefined): number | null => (kb === undefined ? null : kb / 1024);
  return available
    .filter((t) => t !== 'direct')
    .map((target) => {
      const base = memory.point(target, baseLabelOf(target, peerBase));
      const end = memory.point(target, AFTER_SOAK) ?? memory.point(target, AT_END);
      const afterGc = base?.heap !== undefined && end?.heap !== undefined;
      const [from, to] = afterGc ? [base.heap!.rssKb, end.heap!.rssKb] : [base?.rssKb, end?.rssKb];
      return {
        target,
        afterWarmupMb: mb(memory.point(target, AFTER_WARMUP)?.rssKb),
        baseMb: mb(base?.rssKb),
        endMb: mb(end?.rssKb),
        servedBetween: base && end ? end.served - base.served : 0,
        growthPercent: from !== undefined && to !== undefined ? ((to - from) / from) * 100 : null,
        growthAfterGc: afterGc,
        peakMb: mb(peaks.get(target) ?? undefined),
        peakSinceWarmup: memory.peakSinceWarmup(target),
        baseHeap: base?.heap ?? null,
        endHeap: end?.heap ?? null,
      };
    });
}
