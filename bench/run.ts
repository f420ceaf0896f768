// Benchmark seed: the simulated LiteLLM alone ("direct") vs. the same simulator behind the
// gateway ("gateway"), non-streamed chat completions at fixed concurrencies.
// Usage: npm run bench -- [--duration 8] [--warmup 2] [--concurrency 1,64] [--repeat 1]
// See bench/README.md.

import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ChildStartError, type RunningChild, freePort, startChild } from './lib/children.js';
import { runLoad } from './lib/load.js';
import { type Row, type Target, addRatios, markdown, progressLine, writeResults } from './lib/report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const HOST = '127.0.0.1';
const STARTUP_TIMEOUT_MS = 30_000;
const MAX_ERROR_RATE = 0.01;
const REQUEST = {
  path: '/v1/chat/completions',
  body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }),
  headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
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
    console.log('usage: npm run bench -- [--duration <s>] [--warmup <s>] [--concurrency 1,64] [--repeat <n>]');
    console.log('env fallbacks: BENCH_DURATION, BENCH_WARMUP, BENCH_CONCURRENCY, BENCH_REPEAT');
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
  const [cRaw, cFrom] = pick(values.concurrency, 'BENCH_CONCURRENCY', '1,64');
  const concurrency = cRaw.split(',').map((part) => num([part, cFrom], (n) => Number.isInteger(n) && n >= 1 && n <= 4096, 'integers 1-4096, comma-separated'));
  return {
    durationS: num(pick(values.duration, 'BENCH_DURATION', '8'), (n) => n > 0, 'seconds > 0'),
    warmupS: num(pick(values.warmup, 'BENCH_WARMUP', '2'), (n) => n >= 0, 'seconds >= 0'),
    concurrency: [...new Set(concurrency)],
    repeat: num(pick(values.repeat, 'BENCH_REPEAT', '1'), (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1'),
  };
}

const children: RunningChild[] = [];
let cleaning: Promise<void> | undefined;
function stopChildren(): Promise<void> {
  cleaning ??= Promise.all(children.map((c) => c.stop())).then(() => undefined);
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n[bench] ${signal}: stopping the simulator and the gateway`);
    void stopChildren().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

async function startTargets(): Promise<Record<Target, RunningChild>> {
  const [simPort, gatewayPort] = [await freePort(HOST), await freePort(HOST)];
  // The simulator's own SIM_* variables (latency, chunks, ...) pass through from our environment.
  const sim = await startChild({
    name: 'simulator',
    args: ['--import', 'tsx', 'src/sim/main.ts'],
    cwd: ROOT,
    env: { ...process.env, SIM_PORT: String(simPort), SIM_HOST: HOST } as Record<string, string>,
    readyLine: (line) => /^simulated LiteLLM listening on (\S+)/.exec(line)?.[1],
    timeoutMs: STARTUP_TIMEOUT_MS,
  });
  children.push(sim);
  const gateway = await startChild({
    name: 'gateway',
    args: ['--import', 'tsx', 'src/server.ts'],
    cwd: ROOT,
    env: { ...process.env, PORT: String(gatewayPort), HOST, LITELLM_BASE_URL: sim.url, LOG_LEVEL: 'warn' } as Record<string, string>,
    readyLine: gatewayReadyLine,
    // At LOG_LEVEL=warn the info-level ready line is not printed, so also accept a healthy /healthz.
    probeUrl: `http://${HOST}:${gatewayPort}/healthz`,
    timeoutMs: STARTUP_TIMEOUT_MS,
  });
  children.push(gateway);
  return { direct: sim, gateway };
}

/** SIM_* settings inherited from our environment (other than the port and host we set). */
function simEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('SIM_') && e[0] !== 'SIM_PORT' && e[0] !== 'SIM_HOST' && e[1] !== undefined),
  );
}

function gatewayReadyLine(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(line) as { msg?: unknown; url?: unknown };
    return entry.msg === 'budget-gateway listening' && typeof entry.url === 'string' ? entry.url : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const options = readOptions();
  const runs = options.repeat * options.concurrency.length * 2;
  const estimateS = runs * (options.durationS + options.warmupS);
  console.log(
    `[bench] ${runs} runs of ${options.warmupS}s warm-up + ${options.durationS}s, concurrency ${options.concurrency.join(',')}, ` +
      `${options.repeat} repetition(s); about ${Math.ceil(estimateS)} s`,
  );
  const targets = await startTargets();
  console.log(`[bench] simulator ${targets.direct.url} (pid ${targets.direct.process.pid}), gateway ${targets.gateway.url} (pid ${targets.gateway.process.pid})`);

  const rows: Row[] = [];
  for (let rep = 1; rep <= options.repeat; rep++) {
    // Alternate which target goes first so neither always runs on a warmer (or more tired) machine.
    const order: Target[] = rep % 2 === 1 ? ['direct', 'gateway'] : ['gateway', 'direct'];
    for (const concurrency of options.concurrency) {
      for (const target of order) {
        const result = await runLoad({
          origin: targets[target].url,
          ...REQUEST,
          concurrency,
          warmupMs: options.warmupS * 1000,
          durationMs: options.durationS * 1000,
        });
        for (const child of Object.values(targets)) {
          if (child.exited()) throw new Error(`${child.name} exited during the benchmark\n${child.output()}`);
        }
        const row: Row = { target, concurrency, rep, ...result };
        rows.push(row);
        addRatios(rows);
        console.log(progressLine(row, options.repeat, rows));
      }
    }
  }
  await stopChildren();

  const md = markdown(rows, options.repeat);
  const now = new Date();
  const date = now.toISOString().slice(0, 10);
  const cpu = cpus();
  const failed = rows.filter((r) => r.errorRate > MAX_ERROR_RATE);
  const environment = { node: process.version, platform: `${process.platform}-${process.arch}`, cpuModel: cpu[0]?.model ?? 'unknown', cores: cpu.length };
  const header =
    `# budget-gateway bench ${date}\n\n` +
    `node ${environment.node}, ${environment.cpuModel}, ${environment.cores} cores; ` +
    `duration ${options.durationS}s, warm-up ${options.warmupS}s, concurrency ${options.concurrency.join(',')}, repeat ${options.repeat}. ` +
    `Load generator, gateway and simulator share the machine's cores over loopback.\n\n`;
  const files = await writeResults(
    RESULTS_DIR,
    date,
    { date: now.toISOString(), ...environment, options, simEnv: simEnv(), request: { path: REQUEST.path, body: JSON.parse(REQUEST.body) as unknown }, ok: failed.length === 0, rows },
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
  await stopChildren();
  // Do not wait for stray handles (sockets, timers) to wind down on their own.
  process.exit();
}
