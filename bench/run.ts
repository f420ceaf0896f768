// Benchmark: non-streamed chat completions at fixed concurrencies against four targets in front of
// one simulated LiteLLM: the simulator alone ("direct"), the proxy with budgets stubbed out
// ("plain"), and the real gateway on embedded PGlite ("embedded") and on PostgreSQL + Redis
// ("redis"); plus each gateway's CPU time per request.
// Usage: npm run bench -- [--duration 6] [--warmup 2] [--concurrency 1,16,64] [--repeat 1]
// See bench/README.md.

import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ChildStartError } from './lib/children.js';
import { CLK_TCK, CpuWindow } from './lib/cpu.js';
import { BENCH_BUDGET_USD } from './lib/fixtures.js';
import { runLoad } from './lib/load.js';
import { type Row, TARGETS, type Target, addRatios, markdown, progressLine, summarize, writeResults } from './lib/report.js';
import { shutdown, startTargets } from './lib/targets.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const HOST = '127.0.0.1';
// Three gateways start side by side on a small machine, one of them opening PGlite: be generous.
const STARTUP_TIMEOUT_MS = 60_000;
const MAX_ERROR_RATE = 0.01;
const REQUEST = {
  path: '/v1/chat/completions',
  body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 }),
};

class UsageError extends Error {}

interface Options {
  durationS: number;
  warmupS: number;
  concurrency: number[];
  repeat: number;
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      concurrency: { type: 'string' },
      repeat: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    console.log('usage: npm run bench -- [--duration <s>] [--warmup <s>] [--concurrency 1,16,64] [--repeat <n>]');
    console.log('env fallbacks: BENCH_DURATION, BENCH_WARMUP, BENCH_CONCURRENCY, BENCH_REPEAT');
    console.log('redis target: BENCH_DATABASE_URL, BENCH_REDIS_URL (skipped when unreachable)');
    process.exit(0);
  }
  const pick = (flag: string | undefined, env: string, fallback: string): [string, string] => {
    const fromEnv = process.env[env]?.trim();
    if (flag !== undefined) return [flag, `--${env.slice(6).toLowerCase()}`];
    if (fromEnv) return [fromEnv, env];
    return [fallback, 'default'];
  };
  const num = ([raw, from]: [string, string], ok: (n: number) => boolean, expected: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new UsageError(`${from}=${JSON.stringify(raw)}: expected ${expected}`);
    return n;
  };
  const [cRaw, cFrom] = pick(values.concurrency, 'BENCH_CONCURRENCY', '1,16,64');
  const concurrency = cRaw.split(',').map((part) => num([part, cFrom], (n) => Number.isInteger(n) && n >= 1 && n <= 4096, 'integers 1-4096, comma-separated'));
  return {
    durationS: num(pick(values.duration, 'BENCH_DURATION', '6'), (n) => n > 0, 'seconds > 0'),
    warmupS: num(pick(values.warmup, 'BENCH_WARMUP', '2'), (n) => n >= 0, 'seconds >= 0'),
    concurrency: [...new Set(concurrency)],
    repeat: num(pick(values.repeat, 'BENCH_REPEAT', '1'), (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1'),
  };
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n[bench] ${signal}: stopping the targets and removing the bench databases`);
    void shutdown().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

/** SIM_* settings inherited from our environment (other than the port and host we set). */
function simEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('SIM_') && e[0] !== 'SIM_PORT' && e[0] !== 'SIM_HOST' && e[1] !== undefined),
  );
}

async function main(): Promise<number> {
  const options = readOptions();
  const perTarget = options.repeat * options.concurrency.length;
  const estimateS = TARGETS.length * perTarget * (options.durationS + options.warmupS);
  console.log(
    `[bench] ${TARGETS.length} targets x ${perTarget} runs of ${options.warmupS}s warm-up + ${options.durationS}s, ` +
      `concurrency ${options.concurrency.join(',')}, ${options.repeat} repetition(s); about ${Math.ceil(estimateS)} s plus start-up`,
  );
  const started = await startTargets({ root: ROOT, host: HOST, timeoutMs: STARTUP_TIMEOUT_MS }, (line) => console.log(line));
  const { children } = started;
  const sim = children.get('direct')!;
  console.log(`[bench] ${[...children].map(([name, c]) => `${name} ${c.url} (pid ${c.process.pid})`).join(', ')}`);
  for (const [name, where] of Object.entries(started.fixtures)) console.log(`[bench] ${name}: ${where}`);
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${started.apiKey}` };

  const rows: Row[] = [];
  const available = TARGETS.filter((t) => children.has(t));
  for (let rep = 1; rep <= options.repeat; rep++) {
    // Reverse the order on even repetitions so no target always runs on a warmer (or more tired) machine.
    const order: Target[] = rep % 2 === 1 ? available : [...available].reverse();
    for (const concurrency of options.concurrency) {
      for (const target of order) {
        const child = children.get(target)!;
        const cpu = new CpuWindow({ gateway: target === 'direct' ? undefined : child.process.pid, sim: sim.process.pid });
        const result = await runLoad({
          origin: child.url,
          path: REQUEST.path,
          body: REQUEST.body,
          headers,
          concurrency,
          warmupMs: options.warmupS * 1000,
          durationMs: options.durationS * 1000,
          onWindowStart: () => cpu.start(),
          onWindowEnd: () => cpu.end(),
        });
        for (const c of children.values()) {
          if (c.exited()) throw new Error(`${c.name} exited during the benchmark\n${c.output()}`);
        }
        const row: Row = {
          target,
          concurrency,
          rep,
          ...result,
          gatewayCpuUsPerRequest: target === 'direct' ? null : cpu.perRequest('gateway', result.requests),
          simCpuUsPerRequest: cpu.perRequest('sim', result.requests),
        };
        rows.push(row);
        addRatios(rows);
        console.log(progressLine(row, options.repeat));
      }
    }
  }
  await shutdown();

  const md = markdown(rows, options.repeat);
  const now = new Date();
  const date = now.toISOString().slice(0, 10);
  const cpu = cpus();
  const failed = rows.filter((r) => r.errorRate > MAX_ERROR_RATE);
  const environment = { node: process.version, platform: `${process.platform}-${process.arch}`, cpuModel: cpu[0]?.model ?? 'unknown', cores: cpu.length };
  const skipped = Object.entries(started.skipped).map(([t, why]) => `${t} skipped: ${why}`);
  const header =
    `# budget-gateway bench ${date}\n\n` +
    `node ${environment.node}, ${environment.cpuModel}, ${environment.cores} cores; ` +
    `duration ${options.durationS}s, warm-up ${options.warmupS}s, concurrency ${options.concurrency.join(',')}, repeat ${options.repeat}. ` +
    `Targets: ${available.join(', ')}${skipped.length > 0 ? ` (${skipped.join('; ')})` : ''}. ` +
    `The load generator, the simulator and every target's process share the machine's cores over loopback; ` +
    `gateway CPU is the gateway process's own (utime+stime from /proc), not Redis's or PostgreSQL's.\n\n`;
  const files = await writeResults(
    RESULTS_DIR,
    date,
    {
      date: now.toISOString(),
      ...environment,
      clockTicksPerSecond: CLK_TCK,
      options,
      simEnv: simEnv(),
      targets: available,
      skipped: started.skipped,
      fixtures: started.fixtures,
      tenantBudgetUsd: BENCH_BUDGET_USD,
      request: { path: REQUEST.path, body: JSON.parse(REQUEST.body) as unknown, authorization: 'Bearer sk-bench-<random, registered to the bench tenant>' },
      ok: failed.length === 0,
      rows,
      ...(options.repeat > 1 ? { medians: summarize(rows) } : {}),
    },
    header + md,
  );

  console.log(`\n${md}\n`);
  console.log(`[bench] wrote ${files.map((f) => f.slice(ROOT.length)).join(', ')}`);
  if (failed.length > 0) {
    for (const r of failed) console.error(`[bench] FAIL ${r.target} c=${r.concurrency} rep ${r.rep}: ${(r.errorRate * 100).toFixed(2)}% errors (> 1%): ${r.errorSamples.join('; ')}`);
    return 1;
  }
  return 0;
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
