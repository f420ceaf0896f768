// Command-line flags (with BENCH_* environment fallbacks) of `npm run bench`, validated once.

import { parseArgs } from 'node:util';
import { TARGETS, type Target } from './targets.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Runs a bench script's `main` and sets the exit code: `main`'s own (0 by default), or 2 after an
 * error, a usage error told in one line under the script's `tag`. `cleanup` runs in every case.
 */
export async function runScript(tag: string, main: () => Promise<number | void>, cleanup: () => Promise<void>): Promise<void> {
  try {
    process.exitCode = (await main()) ?? 0;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) console.error(`[${tag}] ${(err as Error).message}`);
    else console.error(`[${tag}] failed:`, err);
    process.exitCode = 2;
  } finally {
    await cleanup();
  }
}

export const SCENARIO_IDS = ['concurrency', 'rate', 'stream', 'body', 'tenants'] as const;
export type ScenarioGroup = (typeof SCENARIO_IDS)[number];

export interface Options {
  durationS: number;
  warmupS: number;
  concurrency: number[];
  repeat: number;
  ratePerS: number;
  streamConcurrency: number;
  streamChunks: number;
  streamChunkDelayMs: number;
  bodyBytes: number;
  bodyConcurrency: number;
  tenants: number;
  tenantsConcurrency: number;
  /** Requests each product gateway serves between the two RSS points of the leak check. */
  soakRequests: number;
  scenarios: ScenarioGroup[];
  targets: Target[];
  /** Directory the results files go to. */
  outDir: string;
}

const FLAGS = {
  duration: ['BENCH_DURATION', '3', 'measured seconds per run'],
  warmup: ['BENCH_WARMUP', '0.5', 'discarded seconds before each run'],
  concurrency: ['BENCH_CONCURRENCY', '1,16,64', 'closed-loop concurrencies'],
  repeat: ['BENCH_REPEAT', '3', 'repetitions of the whole matrix'],
  rate: ['BENCH_RATE', '500', 'offered requests/s of the open-loop scenario'],
  'stream-concurrency': ['BENCH_STREAM_CONCURRENCY', '8', 'streams in flight'],
  'stream-chunks': ['BENCH_STREAM_CHUNKS', '20', 'content chunks per stream (x-sim-chunks)'],
  'stream-delay': ['BENCH_STREAM_DELAY_MS', '5', 'ms between chunks (x-sim-chunk-delay-ms)'],
  'body-bytes': ['BENCH_BODY_BYTES', '1048576', 'request body size of the large-body scenario'],
  'body-concurrency': ['BENCH_BODY_CONCURRENCY', '8', 'large-body requests in flight'],
  tenants: ['BENCH_TENANTS', '10000', 'keys (one tenant each) the many-tenants load is spread over'],
  'tenants-concurrency': ['BENCH_TENANTS_CONCURRENCY', '64', 'many-tenants requests in flight'],
  soak: ['BENCH_SOAK', '100000', 'requests between the two RSS points of the leak check (0: no soak)'],
  scenarios: ['BENCH_SCENARIOS', SCENARIO_IDS.join(','), `any of ${SCENARIO_IDS.join(',')}`],
  targets: ['BENCH_TARGETS', TARGETS.join(','), `any of ${TARGETS.join(',')} (direct always runs)`],
  out: ['BENCH_OUT', 'bench/results', 'directory for <date>.json and <date>.md'],
} as const;
type Flag = keyof typeof FLAGS;

export function usage(): string {
  const lines = Object.entries(FLAGS).map(([flag, [env, fallback, meaning]]) => `  --${flag.padEnd(20)} ${env.padEnd(26)} ${fallback.padEnd(12)} ${meaning}`);
  return ['usage: npm run bench -- [flags]', '  flag                   env                        default      meaning', ...lines].join('\n');
}

export function readOptions(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: { ...Object.fromEntries(Object.keys(FLAGS).map((f) => [f, { type: 'string' as const }])), help: { type: 'boolean', short: 'h' } },
    strict: true,
  }) as { values: Partial<Record<Flag, string>> & { help?: boolean } };
  if (values.help === true) return 'help';
  const raw = (flag: Flag): [string, string] => {
    const [name, fallback] = FLAGS[flag];
    const given = values[flag];
    if (typeof given === 'string') return [given, `--${flag}`];
    const fromEnv = env[name]?.trim();
    return fromEnv ? [fromEnv, name] : [fallback, `default --${flag}`];
  };
  const num = (flag: Flag, ok: (n: number) => boolean, expected: string, text = raw(flag)[0]): number => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new UsageError(`${raw(flag)[1]}=${JSON.stringify(raw(flag)[0])}: expected ${expected}`);
    return n;
  };
  const int = (flag: Flag, min: number, max = Number.MAX_SAFE_INTEGER): number =>
    num(flag, (n) => Number.isInteger(n) && n >= min && n <= max, `an integer ${min}-${max}`);
  const list = <T extends string>(flag: Flag, allowed: readonly T[]): T[] => {
    const items = raw(flag)[0].split(',').map((s) => s.trim()).filter(Boolean);
    const bad = items.filter((s) => !allowed.includes(s as T));
    if (items.length === 0 || bad.length > 0) throw new UsageError(`${raw(flag)[1]}: unknown ${bad.join(', ') || '(empty)'}; expected ${allowed.join(',')}`);
    return [...new Set(items as T[])];
  };
  const targets = list('targets', TARGETS);
  return {
    durationS: num('duration', (n) => n > 0, 'seconds > 0'),
    warmupS: num('warmup', (n) => n >= 0, 'seconds >= 0'),
    concurrency: [
      ...new Set(
        raw('concurrency')[0]
          .split(',')
          .map((part) => num('concurrency', (n) => Number.isInteger(n) && n >= 1 && n <= 4096, 'integers 1-4096, comma-separated', part)),
      ),
    ],
    repeat: int('repeat', 1, 100),
    ratePerS: num('rate', (n) => n > 0 && n <= 100_000, 'requests/s in (0, 100000]'),
    streamConcurrency: int('stream-concurrency', 1, 4096),
    streamChunks: int('stream-chunks', 1, 10_000),
    streamChunkDelayMs: num('stream-delay', (n) => n >= 0 && n <= 10_000, 'ms in [0, 10000]'),
    bodyBytes: int('body-bytes', 1, 32 * 1024 * 1024),
    bodyConcurrency: int('body-concurrency', 1, 4096),
    tenants: int('tenants', 1, 1_000_000),
    tenantsConcurrency: int('tenants-concurrency', 1, 4096),
    soakRequests: int('soak', 0),
    scenarios: list('scenarios', SCENARIO_IDS),
    targets: targets.includes('direct') ? targets : ['direct', ...targets],
    outDir: raw('out')[0],
  };
}

/** The round-based benches' shared flags (`bench:threads`, `bench:ab`), read and checked. */
export interface RoundOptions {
  readonly rounds: number;
  readonly durationS: number;
  readonly concurrency: number;
}

export function roundOptions(values: { rounds?: string; duration?: string; concurrency?: string }, defaultRounds: number): RoundOptions {
  const rounds = Number(values.rounds ?? defaultRounds);
  const durationS = Number(values.duration ?? 3);
  const concurrency = Number(values.concurrency ?? 64);
  if (!Number.isInteger(rounds) || rounds < 2) throw new UsageError('--rounds: expected an integer of at least 2 (the first round is a warm-up)');
  if (!(durationS > 0) || !Number.isInteger(concurrency) || concurrency < 1) throw new UsageError('--duration and --concurrency: expected positive numbers');
  return { rounds, durationS, concurrency };
}
