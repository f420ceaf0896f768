// The four targets as child processes on free loopback ports, all in front of one simulator:
//   direct   the simulated LiteLLM alone
//   plain    bench/plain-gateway.ts: the gateway's proxy path with budgets stubbed out
//   embedded src/server.ts on its embedded defaults (PGlite in DATA_DIR, in-process spend store)
//   redis    src/server.ts with DATABASE_URL + REDIS_URL (PostgreSQL ledger, Redis Lua reservations)
// `shutdown()` stops the children and then undoes the fixtures, on every way out.

import { type RunningChild, freePort, startChild } from './children.js';
import { Cleanups, Unreachable, benchKey, prepareEmbedded, prepareRedis } from './fixtures.js';
import type { Target } from './report.js';

export interface TargetSettings {
  root: string;
  host: string;
  timeoutMs: number;
}

export interface StartedTargets {
  /** In run order; `redis` is missing when it was skipped. */
  readonly children: ReadonlyMap<Target, RunningChild>;
  /** The bench tenant's key, for the Authorization header of every request. */
  readonly apiKey: string;
  /** Why a target was skipped, by target. */
  readonly skipped: Partial<Record<Target, string>>;
  /** Where the enforcing targets keep their state, for the results file. */
  readonly fixtures: Partial<Record<Target, string>>;
}

/** Gateway settings the bench sets itself; the same variables in our environment are not passed on. */
const OWNED_ENV = ['PORT', 'HOST', 'LITELLM_BASE_URL', 'LOG_LEVEL', 'DATABASE_URL', 'DATA_DIR', 'REDIS_URL', 'REDIS_PREFIX', 'CONFIG_FILE'];

const started: RunningChild[] = [];
/** Fixture undo steps; benches that prepare their own fixtures register them here too. */
export const cleanups = new Cleanups();
let stopping: Promise<void> | undefined;

/** Stops every child (gateways let go of their databases first), then drops the fixtures. Idempotent. */
export function shutdown(): Promise<void> {
  stopping ??= Promise.all(started.map((c) => c.stop()))
    .then(() => cleanups.runAll())
    .then(() => undefined);
  return stopping;
}

export async function startTargets(settings: TargetSettings, log: (line: string) => void): Promise<StartedTargets> {
  const apiKey = benchKey();
  const skipped: Partial<Record<Target, string>> = {};
  const fixtures: Partial<Record<Target, string>> = {};

  // The simulator and both databases are independent: prepare them side by side, and let all
  // three finish before acting on a failure, so no cleanup races a set-up still under way.
  const [sim, embedded, redis] = settledOrThrow(
    await Promise.allSettled([
      startSimulator(settings),
      prepareEmbedded(apiKey, cleanups),
      prepareRedis(apiKey, cleanups, process.env).catch((err: unknown) => {
        if (!(err instanceof Unreachable)) throw err;
        skipped.redis = err.message;
        log(`[bench] skipping redis target: ${err.message}`);
        return undefined;
      }),
    ] as const),
  );
  fixtures.embedded = `DATA_DIR ${embedded.dataDir}`;
  if (redis) fixtures.redis = redis.shown;

  const specs: [Target, string, Record<string, string>][] = [
    ['plain', 'bench/plain-gateway.ts', {}],
    ['embedded', 'src/server.ts', { DATA_DIR: embedded.dataDir }],
    ...(redis
      ? [['redis', 'src/server.ts', { DATABASE_URL: redis.databaseUrl, REDIS_URL: redis.redisUrl, REDIS_PREFIX: redis.redisPrefix }] as [Target, string, Record<string, string>]]
      : []),
  ];
  // Started together; every one that comes up is tracked, so a failure of one still stops the rest.
  const gateways = settledOrThrow(await Promise.allSettled(specs.map(([name, entry, env]) => startGateway(settings, name, entry, sim.url, env))));
  const children = new Map<Target, RunningChild>([['direct', sim]]);
  for (const [i, child] of gateways.entries()) children.set(specs[i]![0], child);
  return { children, apiKey, skipped, fixtures };
}

function settledOrThrow<T extends readonly PromiseSettledResult<unknown>[]>(results: T): { -readonly [K in keyof T]: T[K] extends PromiseSettledResult<infer V> ? V : never } {
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as never;
}

export async function startSimulator(settings: TargetSettings): Promise<RunningChild> {
  const port = await freePort(settings.host);
  // The simulator's own SIM_* variables (latency, chunks, ...) pass through from our environment.
  const sim = await startChild({
    name: 'simulator',
    args: ['--import', 'tsx', 'src/sim/main.ts'],
    cwd: settings.root,
    env: { ...process.env, SIM_PORT: String(port), SIM_HOST: settings.host } as Record<string, string>,
    readyLine: (line) => /^simulated LiteLLM listening on (\S+)/.exec(line)?.[1],
    timeoutMs: settings.timeoutMs,
  });
  started.push(sim);
  return sim;
}

export async function startGateway(settings: TargetSettings, name: string, entry: string, upstreamUrl: string, extra: Record<string, string>): Promise<RunningChild> {
  const port = await freePort(settings.host);
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !OWNED_ENV.includes(e[0])),
  );
  const child = await startChild({
    name: `${name} gateway`,
    args: ['--import', 'tsx', entry],
    cwd: settings.root,
    env: { ...inherited, PORT: String(port), HOST: settings.host, LITELLM_BASE_URL: upstreamUrl, LOG_LEVEL: 'warn', ...extra },
    readyLine: gatewayReadyLine,
    // At LOG_LEVEL=warn the info-level ready line is not printed, so also accept a healthy /healthz.
    probeUrl: `http://${settings.host}:${port}/healthz`,
    timeoutMs: settings.timeoutMs,
  });
  started.push(child);
  return child;
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
