// One measured run: a scenario's load against one target, with the target's and the simulator's
// CPU time sampled at the window's edges, turned into a row.

import type { RunningChild } from './children.js';
import { CpuWindow, STORE_PROCESSES, pidsNamed } from './cpu.js';
import { type LoadResult, runLoad } from './load.js';
import { runOpenLoop } from './open-loop.js';
import type { Row } from './report.js';
import { type RequestContext, type Scenario, requestFor } from './scenarios.js';
import type { Target } from './targets.js';

export interface RunSettings {
  warmupMs: number;
  durationMs: number;
}

export async function measure(
  scenario: Scenario,
  target: Target,
  child: RunningChild,
  sim: RunningChild,
  ctx: RequestContext,
  settings: RunSettings,
  rep: number,
): Promise<Row> {
  const cpu = new CpuWindow({
    gateway: target === 'direct' ? undefined : child.process.pid,
    sim: sim.process.pid,
    // Only the redis target uses them; every process of theirs on the machine counts.
    stores: target === 'redis' ? pidsNamed(STORE_PROCESSES) : undefined,
  });
  const common = {
    origin: child.url,
    ...requestFor(scenario, target, ctx),
    warmupMs: settings.warmupMs,
    durationMs: settings.durationMs,
    onWindowStart: () => cpu.start(),
    onWindowEnd: () => cpu.end(),
  };
  let result: LoadResult & { offeredRps?: number; dropped?: number };
  if (scenario.ratePerS !== undefined) {
    const open = await runOpenLoop({ ...common, ratePerS: scenario.ratePerS });
    result = { ...open, offeredRps: open.offeredRps, dropped: open.dropped };
  } else {
    result = await runLoad({ ...common, concurrency: scenario.concurrency ?? 1 });
  }
  return {
    scenario: scenario.id,
    target,
    rep,
    concurrency: scenario.concurrency ?? null,
    ...result,
    gatewayCpuUsPerRequest: target === 'direct' ? null : cpu.perRequest('gateway', result.requests),
    simCpuUsPerRequest: cpu.perRequest('sim', result.requests),
    storeCpuUsPerRequest: target === 'redis' ? cpu.perRequest('stores', result.requests) : null,
  };
}

/**
 * Unmeasured load: JIT, connection pools, caches. With `perKey`, one request per key of the
 * many-tenants scenario first, so that scenario measures a warm cache, not 10,000 first lookups.
 * Returns the requests completed.
 */
export async function warmUp(origin: string, scenario: Scenario, target: Target, ctx: RequestContext, seconds: number, perKey: boolean): Promise<number> {
  let completed = 0;
  if (perKey && ctx.extraKeys.length > 0) {
    const primed = await runLoad({ origin, ...requestFor(scenario, target, ctx), concurrency: 32, warmupMs: 0, durationMs: 600_000, maxRequests: ctx.extraKeys.length });
    if (primed.errorRate > 0.01) throw new Error(`${target}: priming ${ctx.extraKeys.length} keys failed: ${primed.errorSamples.join('; ')}`);
    completed += primed.completed;
  }
  if (seconds > 0) {
    const warm = await runLoad({ origin, ...requestFor(scenario, target, ctx), concurrency: 16, warmupMs: seconds * 1000, durationMs: 0 });
    completed += warm.completed;
  }
  return completed;
}
