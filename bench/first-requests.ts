// Benchmark: what a key's first request costs against its later ones. A gateway that has not seen
// a key yet looks up its owner in the database and seeds each of the tenant's buckets from the
// ledger (src/guard, src/db/keys.ts and ledger.ts); later requests find both in memory. A fleet
// restarting, or a burst of new keys, is a stream of first requests.
// Each enforcing target gets 2 x --keys keys, one tenant each, and a fresh gateway; three passes
// of one request per key at --concurrency: "after start" (the first half of the keys, while the
// process also compiles its code), "new keys" (the second half, in the warmed process) and
// "again" (the second half once more: keys it knows). The gateway's CPU (all its threads, the
// embedded database's included) is read from /proc around each pass.
// Usage: npm run bench:first -- [--keys 3000] [--concurrency 32] [--targets embedded,redis] [--repeat 2]

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CpuWindow, STORE_PROCESSES, pidsNamed } from './lib/cpu.js';
import { benchKey, manyKeys, prepareEmbedded, prepareRedis, Unreachable } from './lib/fixtures.js';
import { runLoad } from './lib/load.js';
import { writeResults } from './lib/report.js';
import { cleanups, compileForBench, runBench, startGateway, startSimulator } from './lib/targets.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SETTINGS = { root: ROOT, host: '127.0.0.1', timeoutMs: 60_000 };
const BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 });
const PASSES = ['after start', 'new keys', 'again'] as const;

const { values } = parseArgs({
  options: { keys: { type: 'string' }, concurrency: { type: 'string' }, targets: { type: 'string' }, repeat: { type: 'string' } },
});
const keyCount = positive('keys', values.keys ?? '3000');
const concurrency = positive('concurrency', values.concurrency ?? '32');
const repeat = positive('repeat', values.repeat ?? '2');
const targets = (values.targets ?? 'embedded,redis').split(',').map((t) => t.trim());
for (const target of targets) if (target !== 'embedded' && target !== 'redis') throw new Error(`--targets: "${target}" is not embedded or redis`);

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, not "${text}"`);
  return n;
}

interface Pass {
  seconds: number;
  cpuUs: number;
  storeCpuUs: number | null;
  p99Ms: number;
}

async function measure(origin: string, pid: number | undefined, keys: readonly string[]): Promise<Pass> {
  const window = new CpuWindow({ gateway: pid, stores: pidsNamed(STORE_PROCESSES) });
  window.start();
  const result = await runLoad({
    origin,
    path: '/v1/chat/completions',
    body: BODY,
    headers: (i) => ({ 'content-type': 'application/json', authorization: `Bearer ${keys[i % keys.length]!}` }),
    concurrency,
    warmupMs: 0,
    durationMs: 600_000,
    maxRequests: keys.length,
  });
  window.end();
  const cpuUs = window.perRequest('gateway', result.requests);
  if (cpuUs === null) throw new Error("the gateway's CPU time could not be read (this bench reads /proc: Linux only)");
  if (result.errors > 0) throw new Error(`${result.errors} of ${result.requests} requests failed: ${result.errorSamples.join('; ')}`);
  return {
    seconds: result.elapsedMs / 1000,
    cpuUs,
    storeCpuUs: window.perRequest('stores', result.requests),
    p99Ms: result.p99Ms,
  };
}

async function main(): Promise<void> {
  compileForBench(ROOT, console.log);
  const sim = await startSimulator(SETTINGS);
  const rows: { target: string; rep: number; pass: (typeof PASSES)[number]; measured: Pass }[] = [];
  const skipped: Record<string, string> = {};
  console.log(
    `[bench:first] ${2 * keyCount} keys of as many tenants, passes of ${keyCount} requests, c=${concurrency}, ${repeat} repetition(s), targets ${targets.join(', ')}`,
  );
  for (let rep = 1; rep <= repeat; rep++) {
    for (const target of rep % 2 === 1 ? targets : [...targets].reverse()) {
      if (skipped[target]) continue;
      // A fresh database and gateway each time: every key is new to it.
      const keys = manyKeys(2 * keyCount);
      const keysOf = { 'after start': keys.slice(0, keyCount), 'new keys': keys.slice(keyCount), again: keys.slice(keyCount) };
      let env: Record<string, string>;
      try {
        env =
          target === 'embedded'
            ? { DATA_DIR: (await prepareEmbedded(benchKey(), cleanups, keys)).dataDir }
            : await prepareRedis(benchKey(), cleanups, process.env, keys).then((f) => ({ DATABASE_URL: f.databaseUrl, REDIS_URL: f.redisUrl, REDIS_PREFIX: f.redisPrefix }));
      } catch (err) {
        if (!(err instanceof Unreachable)) throw err;
        skipped[target] = err.message;
        console.log(`[bench:first] ${target} skipped: ${err.message}`);
        continue;
      }
      const gateway = await startGateway(SETTINGS, `${target} ${rep}`, 'src/server.ts', sim.url, env);
      for (const pass of PASSES) {
        const measured = await measure(gateway.url, gateway.process.pid, keysOf[pass]);
        rows.push({ target, rep, pass, measured });
        console.log(
          `[bench:first] rep ${rep} ${target} ${pass}: ${measured.seconds.toFixed(2)} s, ${Math.round(keyCount / measured.seconds)} req/s, ` +
            `gateway CPU ${Math.round(measured.cpuUs)} µs/req, Redis + PostgreSQL ${measured.storeCpuUs === null ? 'n/a' : Math.round(measured.storeCpuUs)} µs/req, p99 ${measured.p99Ms.toFixed(1)} ms`,
        );
      }
      await gateway.stop();
    }
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const of = (target: string, pass: string) => rows.filter((r) => r.target === target && r.pass === pass).map((r) => r.measured);
  const date = new Date().toISOString().slice(0, 10);
  const lines = targets
    .filter((t) => !skipped[t])
    .map((t) => {
      const [start, fresh, again] = PASSES.map((pass) => of(t, pass));
      const cell = (ps: Pass[], f: (p: Pass) => number, digits: number) => `${median(ps.map(f)).toFixed(digits)} (${ps.map((p) => f(p).toFixed(digits)).join(', ')})`;
      const seconds = (p: Pass) => p.seconds;
      const cpu = (p: Pass) => p.cpuUs;
      return (
        `| ${t} | ${cell(start!, seconds, 2)} | ${cell(fresh!, seconds, 2)} | ${cell(again!, seconds, 2)} | ${cell(start!, cpu, 0)} | ${cell(fresh!, cpu, 0)} | ${cell(again!, cpu, 0)} | ` +
        `${(median(fresh!.map(cpu)) / median(again!.map(cpu))).toFixed(2)} |`
      );
    });
  const md =
    `# budget-gateway first-request bench ${date}\n\n${2 * keyCount} keys, one tenant each, c=${concurrency}, ${repeat} repetition(s) alternating the order; ` +
    `medians, each repetition in parentheses.\n\n` +
    `Seconds per pass of ${keyCount} requests, and the gateway's CPU per request in µs: "after start" is each key's first request in a process just started, ` +
    `"new keys" each key's first request in a warmed process, "again" a known key's.\n\n` +
    `| target | after start, s | new keys, s | again, s | after start, CPU µs | new keys, CPU µs | again, CPU µs | new keys ÷ again, CPU |\n|---|---:|---:|---:|---:|---:|---:|---:|\n` +
    lines.join('\n') +
    '\n' +
    Object.entries(skipped)
      .map(([t, why]) => `\n${t} skipped: ${why}\n`)
      .join('');
  const files = await writeResults(join(ROOT, 'bench', 'results'), `first-requests-${date}`, { date, keys: keyCount, concurrency, repeat, rows, skipped }, md);
  console.log(`\n${md}\n[bench:first] wrote ${files.map((f) => f.slice(ROOT.length)).join(', ')}`);
}

await runBench('bench:first', main);
