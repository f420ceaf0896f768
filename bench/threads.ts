// Benchmark: where each target's CPU per request goes, thread by thread, with the targets measured
// in interleaved rounds in front of one simulator (the machine's drift then hits every target in a
// round alike). Threads: the main one (the event loop), those at idle scheduling class (the
// embedded database's, the Redis ledger consumer's), the others (V8's GC helpers, libuv's pool).
// Also the throughput ratio to plain in the same round: what enforcement costs; and the main
// thread's garbage collection in the same window (V8's GC profiler, through bench/lib/heap-probe.mjs):
// its pauses per request and the bytes per request that outlived a scavenge, which V8 copies.
// Usage: npm run bench:threads -- [--targets plain,embedded,redis] [--rounds 6] [--duration 3] [--concurrency 64]

import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CpuWindow, STORE_PROCESSES, THREAD_KINDS, ThreadWindow, pidsNamed, type ThreadKind } from './lib/cpu.js';
import { runLoad } from './lib/load.js';
import { roundOptions } from './lib/options.js';
import { CHAT } from './lib/scenarios.js';
import { spread } from './lib/stats.js';
import { cell, table, whole } from './lib/tables.js';
import { runBench, shutdown, startTargets, TARGETS, type Target } from './lib/targets.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Targets with a thread layout of ours (direct is the simulator; Portkey is not ours). */
const MEASURABLE: readonly Target[] = ['bare', 'plain', 'embedded', 'redis'];

const { values } = parseArgs({ options: { targets: { type: 'string' }, rounds: { type: 'string' }, duration: { type: 'string' }, concurrency: { type: 'string' } } });
const targets = (values.targets ?? 'plain,embedded,redis').split(',').map((t) => t.trim()) as Target[];

interface Round {
  round: number;
  target: Target;
  rps: number;
  /** CPU µs per request by kind of thread, and the process's total. */
  cpu: Record<ThreadKind | 'total', number>;
  /** Redis's and PostgreSQL's processes, µs per request (every target; only redis uses them). */
  stores: number;
  /** req/s ÷ plain's in the same round, when plain is measured. */
  ofPlain: number | null;
  /** The main thread's collections in the window, per request. */
  gc: GcPerRequest;
}

interface GcPerRequest {
  /** Every collection's pause on the main thread (scavenges, incremental marking steps, full ones), µs. */
  pauseUs: number;
  /** Of that, the scavenges' (young generation), µs. */
  scavengeUs: number;
  /** Bytes that survived a scavenge (copied within the young generation or promoted). */
  survivedBytes: number;
}

async function main(): Promise<void> {
  const unknown = targets.filter((t) => !MEASURABLE.includes(t));
  if (unknown.length > 0 || targets.length === 0) throw new Error(`--targets: expected some of ${MEASURABLE.join(',')}, got ${values.targets}`);
  const { rounds, durationS, concurrency } = roundOptions(values, 6);

  const started = await startTargets({ root: ROOT, host: '127.0.0.1', timeoutMs: 60_000 }, console.log, { only: targets });
  const running = TARGETS.filter((t) => targets.includes(t) && started.children.has(t));
  for (const t of targets.filter((t) => !running.includes(t))) console.log(`[bench:threads] ${t} skipped: ${started.skipped[t] ?? 'did not start'}`);
  const body = JSON.stringify(CHAT);
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${started.apiKey}` };
  console.log(`[bench:threads] ${running.join(', ')}: c=${concurrency}, ${rounds} rounds of ${durationS} s each, order rotating; round 1 is a warm-up`);

  const all: Round[] = [];
  for (let round = 1; round <= rounds; round++) {
    // Rotated each round, so no target is always measured first (or right after the same one).
    const order = running.map((_, i) => running[(i + round - 1) % running.length]!);
    const inRound: Round[] = [];
    for (const target of order) {
      const child = started.children.get(target)!;
      const threads = new ThreadWindow(child.process.pid!);
      const stores = new CpuWindow({ stores: pidsNamed(STORE_PROCESSES) });
      const gcFile = `${started.heapFiles.get(target)!}.gc`;
      rmSync(gcFile, { force: true });
      const result = await runLoad({
        origin: child.url,
        path: '/v1/chat/completions',
        body,
        headers,
        concurrency,
        warmupMs: 500,
        durationMs: durationS * 1000,
        onWindowStart: () => {
          threads.start();
          stores.start();
          child.process.kill('SIGURG');
        },
        onWindowEnd: () => {
          threads.end();
          stores.end();
          child.process.kill('SIGURG');
        },
      });
      if (result.errorRate > 0.01) throw new Error(`${target}: ${(result.errorRate * 100).toFixed(1)}% errors: ${result.errorSamples.join('; ')}`);
      const byKind = threads.perRequest(result.requests);
      const total = THREAD_KINDS.reduce((sum, k) => sum + byKind[k], 0);
      const gc = await gcPerRequest(gcFile, result.requests);
      inRound.push({ round, target, rps: result.rps, cpu: { ...byKind, total }, stores: stores.perRequest('stores', result.requests) ?? Number.NaN, ofPlain: null, gc });
    }
    const plain = inRound.find((r) => r.target === 'plain');
    for (const r of inRound) {
      r.ofPlain = plain === undefined ? null : r.rps / plain.rps;
      all.push(r);
      console.log(`[bench:threads] round ${round} ${r.target}: ${Math.round(r.rps)} req/s, CPU µs/req ${describe(r)}`);
    }
  }
  await shutdown();

  const measured = all.filter((r) => r.round > 1);
  const perTarget = running.map((t) => {
    const rs = measured.filter((r) => r.target === t);
    const col = (f: (r: Round) => number | null) => cell(spread(rs.map(f)), fmt);
    return {
      cpu: [t, col((r) => r.rps), col((r) => r.ofPlain), col((r) => r.cpu.main), col((r) => r.cpu.other), col((r) => r.cpu.idle), col((r) => r.cpu.total), col((r) => r.stores)],
      gc: [t, col((r) => r.gc.pauseUs), col((r) => r.gc.scavengeUs), col((r) => r.gc.survivedBytes)],
    };
  });
  const date = new Date().toISOString().slice(0, 10);
  const md =
    `# budget-gateway threads bench ${date}\n\n` +
    `c=${concurrency}, ${rounds} rounds of ${durationS} s per target, order rotating each round; median (min–max) over rounds 2–${rounds}. ` +
    `CPU per request from /proc/<pid>/task/*/stat: the main thread, the other threads (V8's GC helpers, libuv's pool), the threads at idle scheduling class ` +
    `(the embedded database's, the Redis ledger consumer's), the whole process; Redis's and PostgreSQL's processes apart.\n\n` +
    `${table(['target', 'req/s', '÷ plain (same round)', 'main thread µs/req', 'other threads', 'idle-class threads', 'process', 'Redis + PostgreSQL'], perTarget.map((p) => p.cpu))}\n\n` +
    `The main thread's garbage collection in the same windows (V8's GC profiler): pauses per request, all and the scavenges' alone, and the bytes ` +
    `per request that outlived a scavenge (copied in the young generation or promoted to the old), which make a scavenge cost what it does.\n\n` +
    `${table(['target', 'GC pauses µs/req', 'scavenges µs/req', 'survived a scavenge B/req'], perTarget.map((p) => p.gc))}\n\n` +
    `Every round:\n\n${table(['round', 'target', 'req/s', 'CPU µs/req'], all.map((r) => [String(r.round), r.target, whole(r.rps), describe(r)]), 2)}` +
    '\n';
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  writeFileSync(`${dir}threads-${date}.md`, md);
  writeFileSync(`${dir}threads-${date}.json`, JSON.stringify({ date, concurrency, durationS, rounds, targets: running, measurements: all }, null, 2));
  console.log(`\n${md}\n[bench:threads] wrote bench/results/threads-${date}.md and .json`);
}

function describe(r: Round): string {
  const stores = r.target === 'redis' ? `, Redis + PostgreSQL ${fmt(r.stores)}` : '';
  return `main ${fmt(r.cpu.main)} (GC ${fmt(r.gc.pauseUs)}), other ${fmt(r.cpu.other)}, idle-class ${fmt(r.cpu.idle)}, process ${fmt(r.cpu.total)}${stores}; survived a scavenge ${fmt(r.gc.survivedBytes)} B/req`;
}

/** What bench/lib/heap-probe.mjs wrote of the window's collections, per request (NaN if it wrote nothing). */
async function gcPerRequest(file: string, requests: number): Promise<GcPerRequest> {
  for (let i = 0; i < 50 && !existsSync(file); i++) await sleep(100);
  if (!existsSync(file)) return { pauseUs: Number.NaN, scavengeUs: Number.NaN, survivedBytes: Number.NaN };
  const byType = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { count: number; pauseMs: number; survivedBytes: number }>;
  rmSync(file);
  const types = Object.values(byType);
  const scavenges = byType.Scavenge;
  return {
    pauseUs: (types.reduce((sum, t) => sum + t.pauseMs, 0) * 1000) / requests,
    scavengeUs: ((scavenges?.pauseMs ?? 0) * 1000) / requests,
    survivedBytes: (scavenges?.survivedBytes ?? 0) / requests,
  };
}

function fmt(n: number): string {
  return Number.isFinite(n) ? (Math.abs(n) < 10 ? n.toFixed(2) : String(Math.round(n))) : '—';
}

await runBench('bench:threads', main);
