// Benchmark: one target of two checkouts of this repository, measured against each other in
// interleaved rounds (A B, B A, ...), both running at once, each in front of its own simulator.
// Differences of a few µs per request drown in the drift between two runs of `npm run bench`
// or `bench:threads`; alternating rounds of one run puts the drift on both alike. The first
// round is a warm-up and left out of the medians. Each checkout is compiled as the bench compiles
// it (tsconfig.bench.json into its own dist-bench/); make one with `git worktree add /tmp/before
// <commit>` and link this checkout's node_modules into it.
// Usage: npm run bench:ab -- --roots /tmp/before,. [--target embedded] [--rounds 9] [--duration 3] [--concurrency 64]

import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CpuWindow, STORE_PROCESSES, ThreadWindow, pidsNamed } from './lib/cpu.js';
import { runLoad } from './lib/load.js';
import { roundOptions } from './lib/options.js';
import { CHAT } from './lib/scenarios.js';
import { spread } from './lib/stats.js';
import { cell, table, whole } from './lib/tables.js';
import { runBench, startTargets, type StartedTargets, type Target } from './lib/targets.js';

const MEASURABLE: readonly Target[] = ['bare', 'plain', 'embedded', 'redis'];

const { values } = parseArgs({
  options: { roots: { type: 'string' }, target: { type: 'string' }, rounds: { type: 'string' }, duration: { type: 'string' }, concurrency: { type: 'string' } },
});
const roots = (values.roots ?? '').split(',').filter((r) => r !== '').map((r) => resolve(r.trim()));
const target = (values.target ?? 'embedded') as Target;

interface Sample {
  rps: number;
  main: number;
  process: number;
  p99Ms: number;
  /** Redis's and PostgreSQL's processes, µs per request (the redis target only). */
  stores: number | undefined;
}

async function main(): Promise<void> {
  if (roots.length !== 2) throw new Error('--roots: expected two checkouts, comma-separated (e.g. /tmp/before,.)');
  if (!MEASURABLE.includes(target)) throw new Error(`--target: expected one of ${MEASURABLE.join(',')}, got ${values.target}`);
  const { rounds, durationS, concurrency } = roundOptions(values, 9);

  const started: StartedTargets[] = [];
  for (const root of roots) {
    const s = await startTargets({ root, host: '127.0.0.1', timeoutMs: 60_000 }, console.log, { only: [target] });
    if (!s.children.has(target)) throw new Error(`${root}: ${target} did not start: ${s.skipped[target] ?? 'unknown reason'}`);
    started.push(s);
  }
  console.log(`[bench:ab] ${target} of ${roots.join(' and ')}: c=${concurrency}, ${rounds} rounds of ${durationS} s, alternating; round 1 is a warm-up`);

  const samples: Sample[][] = [[], []];
  for (let round = 1; round <= rounds; round++) {
    for (const i of round % 2 === 1 ? [0, 1] : [1, 0]) {
      const s = started[i]!;
      const child = s.children.get(target)!;
      const threads = new ThreadWindow(child.process.pid!);
      const stores = target === 'redis' ? new CpuWindow({ stores: pidsNamed(STORE_PROCESSES) }) : undefined;
      const result = await runLoad({
        origin: child.url,
        path: '/v1/chat/completions',
        body: JSON.stringify(CHAT),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${s.apiKey}` },
        concurrency,
        warmupMs: 500,
        durationMs: durationS * 1000,
        onWindowStart: () => {
          threads.start();
          stores?.start();
        },
        onWindowEnd: () => {
          threads.end();
          stores?.end();
        },
      });
      if (result.errorRate > 0.01) throw new Error(`${roots[i]}: ${(result.errorRate * 100).toFixed(1)}% errors: ${result.errorSamples.join('; ')}`);
      const cpu = threads.perRequest(result.requests);
      const sample = {
        rps: result.rps,
        main: cpu.main,
        process: cpu.main + cpu.idle + cpu.other,
        p99Ms: result.p99Ms,
        stores: stores?.perRequest('stores', result.requests) ?? undefined,
      };
      if (round > 1) samples[i]!.push(sample);
      console.log(`[bench:ab] round ${round} ${i === 0 ? 'A' : 'B'}: ${whole(sample.rps)} req/s, main thread ${sample.main.toFixed(1)} µs/req, process ${sample.process.toFixed(1)}${sample.stores === undefined ? '' : `, Redis + PostgreSQL ${sample.stores.toFixed(1)}`}, p99 ${sample.p99Ms.toFixed(2)} ms`);
    }
  }
  const rows = samples.map((list, i) => [
    `${i === 0 ? 'A' : 'B'}: ${roots[i]}`,
    cell(spread(list.map((s) => s.rps)), whole),
    cell(spread(list.map((s) => s.main)), (n) => n.toFixed(1)),
    cell(spread(list.map((s) => s.process)), (n) => n.toFixed(1)),
    cell(spread(list.map((s) => s.p99Ms)), (n) => n.toFixed(2)),
    ...(target === 'redis' ? [cell(spread(list.map((s) => s.stores ?? Number.NaN)), (n) => n.toFixed(1))] : []),
  ]);
  // B's req/s ÷ A's, round by round (each pair measured one after the other).
  const ratios = samples[1]!.map((b, k) => b.rps / samples[0]![k]!.rps);
  const headers = ['checkout', 'req/s', 'main thread µs/req', 'process µs/req', 'p99 ms', ...(target === 'redis' ? ['Redis + PostgreSQL µs/req'] : [])];
  console.log(`\n${table(headers, rows)}`);
  console.log(`B ÷ A, req/s per round: ${cell(spread(ratios), (n) => n.toFixed(3))} (${ratios.map((r) => r.toFixed(3)).join(', ')})`);
}

await runBench('bench:ab', main);
