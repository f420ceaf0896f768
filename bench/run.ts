// Benchmark: the same load, one scenario at a time, against five targets in front of one simulated
// LiteLLM: the simulator alone ("direct", the physical limit), the proxy with budgets stubbed out
// ("plain"), the real gateway on embedded PGlite ("embedded") and on PostgreSQL + Redis ("redis"),
// and the Portkey AI gateway ("portkey", the peer). Scenarios: non-streamed chat at fixed
// concurrencies and at a fixed offered rate, streamed chat, large bodies, many tenants; figures:
// req/s, latency percentiles, added latency against direct, ratios against direct and Portkey,
// CPU per request, RSS (peak, and growth over a soak of 100,000 requests).
// Usage: npm run bench -- [--duration 3] [--repeat 3] ... (--help lists every flag; see bench/README.md)

import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildStartError } from './lib/children.js';
import { CLK_TCK } from './lib/cpu.js';
import { page } from './lib/document.js';
import { BENCH_BUDGET_USD, manyKeys } from './lib/fixtures.js';
import { checkTargets } from './lib/headline.js';
import { AFTER_SOAK, AFTER_WARMUP, AT_END, PRODUCT, markBase, memoryRows, runLabel, soak } from './lib/leak-check.js';
import { measure, warmUp } from './lib/measure.js';
import { type Options, UsageError, readOptions, usage } from './lib/options.js';
import { portkeyPackage } from './lib/portkey.js';
import { progressLine } from './lib/progress.js';
import { type Row, addRatios, summarize, writeResults } from './lib/report.js';
import { MemoryLedger } from './lib/rss.js';
import { CHAT, type Scenario, scenarios } from './lib/scenarios.js';
import { ENFORCING, TARGETS, type Target, shutdown, startTargets } from './lib/targets.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SETTINGS = { root: ROOT, host: '127.0.0.1', timeoutMs: 60_000 }; // five processes start side by side
const MAX_ERROR_RATE = 0.01;
const INITIAL_WARMUP_S = 2;
// The soak stops at 90 s per gateway, or earlier to keep the whole run near 9.5 minutes.
const SOAK_CAP_MS = 90_000;
const RUN_BUDGET_MS = 570_000;
const WARMUP: Scenario = { id: 'warm-up', group: 'concurrency', title: 'warm-up', concurrency: 16, targets: TARGETS, body: JSON.stringify(CHAT), simHeaders: {}, manyKeys: false };

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n[bench] ${signal}: stopping the targets and removing the bench databases`);
    void shutdown().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

const t0 = Date.now();
const clock = (ms: number): string => `${Math.floor(ms / 60_000)}:${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}`;
const log = (line: string): void => console.log(`[bench ${clock(Date.now() - t0)}] ${line}`);

function estimateS(o: Options, plan: readonly Scenario[], targets: number): number {
  const perRun = o.warmupS + o.durationS;
  const runs = plan.reduce((n, s) => n + s.targets.length, 0) * o.repeat;
  const priming = plan.some((s) => s.manyKeys) ? o.tenants * 0.004 : 0; // a first lookup costs ms of CPU
  // The leak check: a base run and a soak per product gateway; with repetitions after the first,
  // they serve most of the soak count and the soak is its shortest (10,000).
  const leakCheck = o.soakRequests === 0 ? 0 : (3 * (10_000 + (o.repeat > 1 ? 10_000 : o.soakRequests))) / 3500 + 3 * INITIAL_WARMUP_S;
  // The warm-up, and again after each target's first heap probe.
  return runs * perRun + 2 * targets * INITIAL_WARMUP_S + priming + leakCheck;
}

/** The commit measured, "+changes" when src/ or the plain proxy differ from it; read-only git. */
function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bench/plain-gateway.ts', 'bench/bare-proxy.ts'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return `${head}${dirty ? '+changes' : ''}`;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const options = readOptions();
  if (options === 'help') {
    console.log(usage());
    return 0;
  }
  const commit = revision(); // at the start: src/ may change while the run goes on
  const wantsKeys = options.scenarios.includes('tenants') && options.targets.some((t) => ENFORCING.includes(t));
  const extraKeys = wantsKeys ? manyKeys(options.tenants) : [];
  const draft = scenarios(options, options.targets);
  log(
    `${options.targets.length} targets, ${draft.length} scenarios (${draft.map((s) => s.id).join(', ')}), ${options.repeat} repetition(s) of ` +
      `${options.warmupS}s + ${options.durationS}s per run; about ${Math.ceil(estimateS(options, draft, options.targets.length))} s plus start-up`,
  );
  const started = await startTargets(SETTINGS, log, { only: options.targets, extraKeys });
  const { children } = started;
  const sim = children.get('direct')!;
  const available = TARGETS.filter((t) => children.has(t));
  const plan = scenarios(options, available);
  const ctx = { apiKey: started.apiKey, extraKeys, simUrl: sim.url };
  log(`started ${[...children].map(([name, c]) => `${name} ${c.url} (pid ${c.process.pid})`).join(', ')}`);
  for (const [name, where] of Object.entries(started.fixtures)) log(`${name}: ${where}`);

  const memory = new MemoryLedger(
    new Map(available.filter((t) => t !== 'direct').map((t) => [t, { pid: children.get(t)!.process.pid, heapFile: started.heapFiles.get(t) }])),
  );
  for (const target of available) memory.count(target, await warmUp(children.get(target)!.url, WARMUP, target, ctx, INITIAL_WARMUP_S, false));
  // Each key's first request looks the key and its tenant up in the database; the scenario is
  // about the cached path, so every key is used once first (the enforcing targets side by side).
  const manyKeysScenario = plan.find((s) => s.manyKeys);
  const priming = manyKeysScenario ? ENFORCING.filter((t) => manyKeysScenario.targets.includes(t)) : [];
  await Promise.all(
    priming.map(async (target) => {
      const primedAt = Date.now();
      memory.count(target, await warmUp(children.get(target)!.url, manyKeysScenario!, target, ctx, 0, true));
      log(`${target}: first request of each of ${extraKeys.length} keys took ${((Date.now() - primedAt) / 1000).toFixed(1)} s in all`);
    }),
  );
  memory.mark(AFTER_WARMUP, { resetPeak: true });
  // A heap probe's full GC leaves the target slower for a while: warm it up again before measuring.
  const rewarm = async (target: Target): Promise<void> => memory.count(target, await warmUp(children.get(target)!.url, WARMUP, target, ctx, INITIAL_WARMUP_S, false));
  for (const t of available.filter((p) => p !== 'direct')) {
    await memory.addHeap(t, AFTER_WARMUP);
    await rewarm(t);
  }
  log('warmed up');

  const ids = { c1: `c${Math.min(...options.concurrency)}`, c64: `c${Math.max(...options.concurrency)}`, stream: 'stream' };
  // The leak check's base (see lib/leak-check.ts): our gateways', after the first repetition;
  // Portkey's, the busiest closed-loop run of the second.
  const everyone = plan.filter((s) => PRODUCT.every((t) => !available.includes(t) || s.targets.includes(t)));
  const baseScenario = everyone.find((s) => s.id === ids.c64) ?? everyone.at(-1) ?? plan.at(-1)!;
  const peerBase = runLabel(Math.min(2, options.repeat), baseScenario.id);
  const urls = new Map([...children].map(([t, c]) => [t, c.url]));
  const rows: Row[] = [];
  const total = plan.reduce((n, s) => n + s.targets.length, 0) * options.repeat;
  const settings = { warmupMs: options.warmupS * 1000, durationMs: options.durationS * 1000 };
  const runsStartedAt = Date.now();
  const left = (): string => clock(((Date.now() - runsStartedAt) / rows.length) * (total - rows.length));
  for (let rep = 1; rep <= options.repeat; rep++) {
    for (const scenario of plan) {
      // Reverse the order on even repetitions so no target always runs on a warmer (or more tired) machine.
      const order = rep % 2 === 1 ? scenario.targets : [...scenario.targets].reverse();
      for (const target of order) {
        const row = await measure(scenario, target, children.get(target)!, sim, ctx, settings, rep);
        memory.count(target, row.completed);
        memory.mark(runLabel(rep, scenario.id), { only: [target] });
        if (runLabel(rep, scenario.id) === peerBase && target === 'portkey') {
          await memory.addHeap(target, peerBase);
          await rewarm(target);
        }
        for (const c of children.values()) {
          if (c.exited()) throw new Error(`${c.name} exited during the benchmark\n${c.output()}`);
        }
        rows.push(row);
        addRatios(rows);
        log(`${rows.length}/${total}, ~${left()} left: ${progressLine(row, options.repeat)}`);
      }
    }
    if (rep === 1 && options.soakRequests > 0) await markBase(WARMUP, available, urls, memory, ctx, log, rewarm);
  }

  await soak(WARMUP, available, urls, memory, ctx, {
    soakRequests: options.soakRequests,
    capMs: (remaining) => Math.max(15_000, Math.min(SOAK_CAP_MS, (RUN_BUDGET_MS - (Date.now() - t0)) / remaining)),
    log,
  });
  memory.mark(AT_END);
  for (const t of available.filter((p) => p !== 'direct' && !memory.point(p, AFTER_SOAK))) await memory.addHeap(t, AT_END);
  const peaks = new Map(available.map((t) => [t, memory.peakKb(t)]));
  await shutdown();

  const rss = memoryRows(available, memory, peaks, peerBase);
  const summaries = summarize(rows);
  const checks = checkTargets(summaries, rss, ids, options.soakRequests);
  const now = new Date();
  const date = now.toISOString().slice(0, 10);
  const cpu = cpus();
  const environment = { node: process.version, platform: `${process.platform}-${process.arch}`, cpuModel: cpu[0]?.model ?? 'unknown', cores: cpu.length };
  const portkey = portkeyPackage().version;
  const skipped = Object.entries(started.skipped).map(([t, why]) => `${t} skipped: ${why}`);
  // The peer's errors are its own (an offered rate beyond what it carries on this machine): reported, not a failed run.
  const failed = rows.filter((r) => r.errorRate > MAX_ERROR_RATE && r.target !== 'portkey');
  const peerFailed = rows.filter((r) => r.errorRate > MAX_ERROR_RATE && r.target === 'portkey');
  const preamble =
    `commit ${commit}; node ${environment.node}, ${environment.cpuModel}, ${environment.cores} cores; @portkey-ai/gateway ${portkey}; ` +
    `${options.repeat} repetition(s) of ${options.warmupS}s warm-up + ${options.durationS}s per run; finished in ${clock(Date.now() - t0)}. ` +
    `Targets: ${available.join(', ')}${skipped.length > 0 ? ` (${skipped.join('; ')})` : ''}. ` +
    `The load generator (undici, in the orchestrator), the simulator and every target share the machine's cores over loopback; ` +
    `CPU is each target process's own (utime+stime from /proc); the redis target's Redis and PostgreSQL CPU is a column of its own in the cost-of-enforcement tables.`;
  const md = page({ title: `budget-gateway bench ${date}`, preamble, scenarios: plan, summaries, memory: rss, memoryBase: peerBase, checks, ids, repeat: options.repeat });
  const files = await writeResults(resolve(ROOT, options.outDir), date, {
    date: now.toISOString(),
    ...environment,
    portkeyVersion: portkey,
    commit,
    clockTicksPerSecond: CLK_TCK,
    options,
    durationS: (Date.now() - t0) / 1000,
    simEnv: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('SIM_') && k !== 'SIM_PORT' && k !== 'SIM_HOST')),
    targets: available,
    skipped: started.skipped,
    fixtures: started.fixtures,
    tenantBudgetUsd: BENCH_BUDGET_USD,
    scenarios: plan.map(({ body, ...s }) => ({ ...s, bodyBytes: Buffer.byteLength(body), body: body.length > 512 ? `${body.slice(0, 120)}…` : JSON.parse(body) })),
    ok: failed.length === 0,
    checks,
    memory: rss,
    memoryBase: peerBase,
    memoryPoints: Object.fromEntries(available.map((t) => [t, memory.points(t)])),
    summaries,
    rows,
  }, md);

  console.log(`\n${md}`);
  log(`wrote ${files.map((f) => (f.startsWith(ROOT) ? f.slice(ROOT.length) : f)).join(', ')}`);
  for (const r of failed) console.error(`[bench] FAIL ${r.target} ${r.scenario} rep ${r.rep}: ${(r.errorRate * 100).toFixed(2)}% errors (> 1%): ${r.errorSamples.join('; ')}`);
  for (const r of peerFailed) console.error(`[bench] note: the peer, ${r.target}, had ${(r.errorRate * 100).toFixed(2)}% errors in ${r.scenario} rep ${r.rep}: ${r.errorSamples.join('; ')}`);
  return failed.length > 0 ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  const code = (err as { code?: unknown }).code;
  const expected = err instanceof UsageError || err instanceof ChildStartError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'));
  if (expected) console.error(`[bench] ${(err as Error).message}`);
  else console.error('[bench] failed:', err);
  process.exitCode = 2;
} finally {
  await shutdown();
  // Do not wait for stray handles (sockets, timers) to wind down on their own.
  process.exit();
}
