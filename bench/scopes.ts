// Benchmark: what checking 4 budget scopes costs against 1 (issue #7's target: under 10 % more
// gateway CPU per request). Two gateways on Redis + PostgreSQL in front of one simulator, the same
// load on each: "1 scope" has only the tenant's budget; "4 scopes" also a global cap, a budget for
// the requested model and one for the key, so every request is reserved and settled in 4 buckets.
// Usage: npm run bench:scopes -- [--duration 8] [--repeat 3] [--concurrency 16]

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { eq } from 'drizzle-orm';
import { openDatabase } from '../src/db/client.js';
import { putGlobalBudget } from '../src/db/global-budget.js';
import { apiKeys, tenants } from '../src/db/schema.js';
import { CpuWindow, STORE_PROCESSES, pidsNamed } from './lib/cpu.js';
import { BENCH_TENANT, benchKey, prepareRedis } from './lib/fixtures.js';
import { runLoad } from './lib/load.js';
import { cleanups, compileForBench, runBench, shutdown, startGateway, startSimulator } from './lib/targets.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SETTINGS = { root: ROOT, host: '127.0.0.1', timeoutMs: 60_000 };
const BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 });
const HUGE = 1_000_000_000_000; // budgets the bench never exhausts, in micros

const { values } = parseArgs({ options: { duration: { type: 'string' }, repeat: { type: 'string' }, concurrency: { type: 'string' } } });
const durationS = Number(values.duration ?? 8);
const repeat = Number(values.repeat ?? 3);
const concurrency = Number(values.concurrency ?? 16);

async function main(): Promise<void> {
  const apiKey = benchKey();
  compileForBench(SETTINGS.root, console.log);
  const [sim, one, four] = await Promise.all([
    startSimulator(SETTINGS),
    prepareRedis(apiKey, cleanups, process.env),
    prepareRedis(apiKey, cleanups, process.env),
  ]);
  const database = await openDatabase({ databaseUrl: four.databaseUrl, dataDir: '' });
  try {
    const now = Date.now();
    await putGlobalBudget(database.db, {
      maxBudgetMicros: HUGE,
      alertThreshold: 80,
      alertThresholds: null,
      graceThreshold: 110,
      budgetDuration: '1mo',
      firstPeriod: { startedAt: new Date(now), resetAt: new Date(now + 30 * 86_400_000) },
    });
    await database.db.update(tenants).set({ modelBudgets: { 'gpt-4o-mini': HUGE } }).where(eq(tenants.tenantId, BENCH_TENANT));
    await database.db.update(apiKeys).set({ maxBudgetMicros: HUGE }).where(eq(apiKeys.tenantId, BENCH_TENANT));
  } finally {
    await database.close();
  }
  const env = (f: typeof one) => ({ DATABASE_URL: f.databaseUrl, REDIS_URL: f.redisUrl, REDIS_PREFIX: f.redisPrefix });
  const gateways = {
    '1 scope': await startGateway(SETTINGS, '1 scope', 'src/server.ts', sim.url, env(one)),
    '4 scopes': await startGateway(SETTINGS, '4 scopes', 'src/server.ts', sim.url, env(four)),
  };
  console.log(`[bench:scopes] c=${concurrency}, ${repeat} x ${durationS}s per target, alternating order`);

  const cpu: Record<string, number[]> = { '1 scope': [], '4 scopes': [] };
  const rps: Record<string, number[]> = { '1 scope': [], '4 scopes': [] };
  /** Redis's and PostgreSQL's CPU per request while that gateway was measured (the other idles). */
  const stores: Record<string, number[]> = { '1 scope': [], '4 scopes': [] };
  for (let rep = 1; rep <= repeat; rep++) {
    const order = rep % 2 === 1 ? (['1 scope', '4 scopes'] as const) : (['4 scopes', '1 scope'] as const);
    for (const name of order) {
      const child = gateways[name];
      const window = new CpuWindow({ gateway: child.process.pid, stores: pidsNamed(STORE_PROCESSES) });
      const result = await runLoad({
        origin: child.url,
        path: '/v1/chat/completions',
        body: BODY,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        concurrency,
        warmupMs: 2_000,
        durationMs: durationS * 1000,
        onWindowStart: () => window.start(),
        onWindowEnd: () => window.end(),
      });
      if (result.errorRate > 0.01) throw new Error(`${name}: ${(result.errorRate * 100).toFixed(1)}% errors: ${result.errorSamples.join('; ')}`);
      cpu[name]!.push(window.perRequest('gateway', result.requests)!);
      rps[name]!.push(result.rps);
      stores[name]!.push(window.perRequest('stores', result.requests) ?? Number.NaN);
      console.log(
        `[bench:scopes] rep ${rep} ${name}: ${Math.round(result.rps)} req/s, ${Math.round(cpu[name]!.at(-1)!)} µs CPU/req, ` +
          `Redis + PostgreSQL ${Math.round(stores[name]!.at(-1)!)} µs/req, p99 ${result.p99Ms.toFixed(2)} ms`,
      );
    }
  }
  await shutdown();

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const ratio = median(cpu['4 scopes']!) / median(cpu['1 scope']!);
  const ratios = cpu['4 scopes']!.map((c, i) => c / cpu['1 scope']![i]!);
  const verdict = ratio < 1.1 ? 'met' : 'not met';
  const total = (n: string) => median(cpu[n]!.map((c, i) => c + stores[n]![i]!));
  const totalRatio = total('4 scopes') / total('1 scope');
  const date = new Date().toISOString().slice(0, 10);
  const md =
    `# budget-gateway scopes bench ${date}\n\nRedis + PostgreSQL, c=${concurrency}, ${repeat} x ${durationS}s per target, alternating order.\n\n` +
    `| target | median req/s | median gateway CPU µs/req | per repetition | median Redis + PostgreSQL CPU µs/req |\n|---|---:|---:|---|---:|\n` +
    (['1 scope', '4 scopes'] as const)
      .map((n) => `| ${n} | ${Math.round(median(rps[n]!))} | ${Math.round(median(cpu[n]!))} | ${cpu[n]!.map((c) => Math.round(c)).join(', ')} | ${Math.round(median(stores[n]!))} |`)
      .join('\n') +
    `\n\n4 scopes ÷ 1 scope, gateway CPU per request: **${ratio.toFixed(3)}** (per repetition ${ratios.map((r) => r.toFixed(3)).join(', ')}); target < 1.10: ${verdict}. ` +
    `With Redis's and PostgreSQL's CPU added to each: ${totalRatio.toFixed(3)}.\n`;
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  writeFileSync(`${dir}scopes-${date}.md`, md);
  writeFileSync(`${dir}scopes-${date}.json`, JSON.stringify({ date, concurrency, durationS, repeat, cpuUsPerRequest: cpu, storeCpuUsPerRequest: stores, rps, ratio, totalRatio, target: 1.1, met: ratio < 1.1 }, null, 2));
  console.log(`\n${md}\n[bench:scopes] wrote bench/results/scopes-${date}.md and .json`);
}

await runBench('bench:scopes', main);
