// The leak check: RSS of each product gateway at a base point, and again after it has served
// `soakRequests` more requests. Both points are taken in the same condition, right after a
// closed-loop run of small chat requests at concurrency 64 (the base: the c=64 run of the second
// repetition, when every scenario, the 10,000-key cache and the 1 MB bodies included, has run
// once; the end: the soak, itself c=64), because V8 sizes its heap to the recent allocation rate
// and shrinks it when a process idles: RSS read after an idle spell and RSS read under load differ
// by tens of MB without any leak.

import { runLoad } from './load.js';
import type { MemoryLedger } from './rss.js';
import { type RequestContext, type Scenario, requestFor } from './scenarios.js';
import type { MemoryRow } from './tables.js';
import { ENFORCING, type Target } from './targets.js';

export const PRODUCT: readonly Target[] = ['plain', ...ENFORCING];
export const AFTER_WARMUP = 'after warm-up';
export const AFTER_SOAK = 'after soak';
export const AT_END = 'end';
/** The soak is at least this long, so the end point follows a c=64 run like the base point. */
const MIN_SOAK_REQUESTS = 10_000;

/** The label of run `scenarioId` in repetition `rep`, as recorded after every run. */
export const runLabel = (rep: number, scenarioId: string): string => `rep ${rep} ${scenarioId}`;

export interface SoakSettings {
  soakRequests: number;
  baseLabel: string;
  /** Longest a soak may take for this target. */
  capMs: (remainingTargets: number) => number;
  log: (line: string) => void;
}

/** Tops each product gateway up to `soakRequests` served since the base point, then marks its RSS. */
export async function soak(scenario: Scenario, available: readonly Target[], urls: ReadonlyMap<Target, string>, memory: MemoryLedger, ctx: RequestContext, s: SoakSettings): Promise<void> {
  const targets = PRODUCT.filter((t) => available.includes(t));
  for (const [i, target] of targets.entries()) {
    const base = memory.point(target, s.baseLabel);
    if (base === undefined || s.soakRequests === 0) continue;
    const need = Math.max(MIN_SOAK_REQUESTS, s.soakRequests - (memory.served(target) - base.served));
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
export function memoryRows(available: readonly Target[], memory: MemoryLedger, peaks: ReadonlyMap<Target, number | null>, baseLabel: string): MemoryRow[] {
  const mb = (kb: number | undefined): number | null => (kb === undefined ? null : kb / 1024);
  return available
    .filter((t) => t !== 'direct')
    .map((target) => {
      const base = memory.point(target, baseLabel);
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
