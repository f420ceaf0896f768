// Profiles one target under one scenario's load: starts it with `node --cpu-prof`, drives the load
// (the same requests as `npm run bench`), stops it so V8 writes the profile, and prints the
// functions with the most self time in the measured window (start-up and shutdown left out), and
// where each worker thread (the embedded database's) spent its own.
// Writes bench/results/profiles/<date>-<target>-<scenario>.md (the tables), .svg (a flame graph)
// and .cpuprofile (for Chrome DevTools or speedscope; git-ignored).
// Usage: npm run bench:profile -- --target redis [--scenario c64] [--duration 10] [--top 25]

import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type SelfTime, type CpuProfile, summarizeProfile } from './lib/cpuprofile.js';
import { flameGraphSvg } from './lib/flamegraph.js';
import { manyKeys } from './lib/fixtures.js';
import { measure, warmUp } from './lib/measure.js';
import { readOptions } from './lib/options.js';
import { progressLine } from './lib/progress.js';
import { scenarios } from './lib/scenarios.js';
import { table } from './lib/tables.js';
import { type Target, runBench, shutdown, startTargets } from './lib/targets.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = fileURLToPath(new URL('./results/profiles/', import.meta.url));
const PROFILED: readonly Target[] = ['plain', 'embedded', 'redis', 'portkey'];
const SAMPLING_US = 250;

const { values } = parseArgs({
  options: { target: { type: 'string' }, scenario: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, top: { type: 'string' } },
  strict: true,
});
const target = (values.target ?? 'redis') as Target;
const scenarioId = values.scenario ?? 'c64';
const durationS = Number(values.duration ?? 10);
const warmupS = Number(values.warmup ?? 2);
const top = Number(values.top ?? 25);

async function main(): Promise<void> {
  if (!PROFILED.includes(target)) throw new Error(`--target must be one of ${PROFILED.join(', ')}`);
  const defaults = readOptions(['--targets', target], {});
  if (defaults === 'help') return;
  const all = scenarios(defaults, ['direct', target]);
  const scenario = all.find((s) => s.id === scenarioId);
  if (!scenario) throw new Error(`--scenario must be one of ${all.map((s) => s.id).join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'budget-gateway-profile-'));
  const extraKeys = scenario.manyKeys ? manyKeys(defaults.tenants) : [];
  const started = await startTargets({ root: ROOT, host: '127.0.0.1', timeoutMs: 60_000 }, console.log, {
    only: [target],
    extraKeys,
    nodeArgs: { [target]: ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${SAMPLING_US}`] },
  });
  const child = started.children.get(target);
  if (!child) throw new Error(`${target} did not start: ${JSON.stringify(started.skipped)}`);
  const sim = started.children.get('direct')!;
  const ctx = { apiKey: started.apiKey, extraKeys, simUrl: sim.url };
  console.log(`[profile] ${target} (pid ${child.process.pid}) under ${scenario.title}: ${warmupS}s warm-up, ${durationS}s profiled`);
  await warmUp(child.url, scenario, target, ctx, warmupS, scenario.manyKeys);
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const row = await measure(scenario, target, child, sim, ctx, { warmupMs: 0, durationMs: durationS * 1000 }, 1);
  const toUs = Number(process.hrtime.bigint() / 1000n);
  console.log(`[profile] ${progressLine(row, 1)}`);
  await shutdown(); // SIGTERM: the target exits and V8 writes the profile

  // One file per thread, named CPU.<date>.<time>.<pid>.<thread>.<seq>: thread 0 is the main one,
  // the others are worker threads (the embedded database's).
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort((a, b) => threadOf(a) - threadOf(b));
  const file = files[0];
  if (!file) throw new Error(`no profile written in ${dir}`);
  const read = (name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as CpuProfile;
  const summary = summarizeProfile(read(file), ROOT, { fromUs, toUs });
  const workers = files.slice(1).map((name) => ({ thread: threadOf(name), summary: summarizeProfile(read(name), ROOT, { fromUs, toUs }) }));
  const date = new Date().toISOString().slice(0, 10);
  const base = join(OUT, `${date}-${target}-${scenario.id}`);
  mkdirSync(OUT, { recursive: true });
  const busyShare = (100 * summary.busySamples) / Math.max(1, summary.busySamples + summary.idleSamples);
  const header =
    `# CPU profile: ${target}, ${scenario.title}\n\n${date}; ${Math.round(row.rps)} req/s, ${Math.round(row.gatewayCpuUsPerRequest ?? Number.NaN)} µs CPU/req; ` +
    `${summary.busySamples} busy samples of ${SAMPLING_US} µs in the ${durationS} s window (main thread ${busyShare.toFixed(0)} % busy). ` +
    `Self time as a share of the busy samples. Flame graph: ${base.slice(ROOT.length)}.svg; the raw profile (git-ignored): ${base.slice(ROOT.length)}.cpuprofile.\n\n`;
  const rows = (entries: readonly SelfTime[], withWhere: boolean): string[][] =>
    entries.slice(0, top).map((e) => [withWhere ? `\`${e.name}\` ${e.where}` : e.name, `${e.percent.toFixed(1)} %`, String(e.samples)]);
  const md =
    header +
    `## Top ${top} functions by self time\n\n${table(['function', 'self', 'samples'], rows(summary.functions, true))}\n\n` +
    `## By package or source file\n\n${table(['where', 'self', 'samples'], rows(summary.places, false))}\n` +
    workers
      .map(({ thread, summary: w }) => {
        const share = (100 * w.busySamples) / Math.max(1, w.busySamples + w.idleSamples);
        return (
          `\n## Worker thread ${thread}: ${w.busySamples} busy samples (${share.toFixed(0)} % busy)\n\n` +
          `${table(['function', 'self', 'samples'], rows(w.functions, true).slice(0, 15))}\n\n` +
          `${table(['where', 'self', 'samples'], rows(w.places, false).slice(0, 10))}\n`
        );
      })
      .join('');
  writeFileSync(`${base}.md`, md);
  writeFileSync(`${base}.svg`, flameGraphSvg(summary.folded, `${target}, ${scenario.title}: ${summary.busySamples} busy samples`));
  copyFileSync(join(dir, file), `${base}.cpuprofile`);
  rmSync(dir, { recursive: true, force: true });
  console.log(`\n${md}`);
  console.log(`[profile] wrote ${base.slice(ROOT.length)}.md, .svg, .cpuprofile`);
}

/** The thread number in a --cpu-prof file name (0: the main thread). */
function threadOf(name: string): number {
  return Number(name.split('.').at(-3));
}

await runBench('profile', main);
