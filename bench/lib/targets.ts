// The targets as child processes on free loopback ports, all in front of one simulator:
//   direct   the simulated LiteLLM alone (the physical limit)
//   bare     bench/bare-proxy.ts: node:http and an undici Pool, nothing else (any Node proxy's ceiling)
//   plain    bench/plain-gateway.ts: the gateway's proxy path with budgets stubbed out
//   embedded src/server.ts on its embedded defaults (PGlite in DATA_DIR, in-process spend store)
//   redis    src/server.ts with DATABASE_URL + REDIS_URL (PostgreSQL ledger, Redis Lua reservations)
//   portkey  the Portkey AI gateway (@portkey-ai/gateway), the peer, forwarding to the simulator
// `shutdown()` stops the children and then undoes the fixtures, on every way out.

import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AS_SHIPPED_ENV } from './as-shipped.js';
import { type RunningChild, freePort, startChild } from './children.js';
import { Cleanups, Unreachable, benchKey, prepareEmbedded, prepareRedis } from './fixtures.js';
import { assertLoopbackOnly, startPortkey } from './portkey.js';

/** In run order: the upstream alone, a bare Node proxy, the gateway's proxy without budgets, the two enforcing set-ups, the peer. */
export const TARGETS = ['direct', 'bare', 'plain', 'embedded', 'redis', 'portkey'] as const;
export type Target = (typeof TARGETS)[number];
export const ENFORCING: readonly Target[] = ['embedded', 'redis'];

export interface TargetSettings {
  root: string;
  host: string;
  timeoutMs: number;
}

export interface StartedTargets {
  /** In run order; `redis` is missing when it was skipped, others when not asked for. */
  readonly children: ReadonlyMap<Target, RunningChild>;
  /** The bench tenant's key, for the Authorization header of every request. */
  readonly apiKey: string;
  /** Why a target was skipped, by target. */
  readonly skipped: Partial<Record<Target, string>>;
  /** Where the enforcing targets keep their state, for the results file. */
  readonly fixtures: Partial<Record<Target, string>>;
  /** Where each target's heap probe (bench/lib/heap-probe.mjs) writes; see lib/rss.ts. */
  readonly heapFiles: ReadonlyMap<Target, string>;
}

const HEAP_PROBE = fileURLToPath(new URL('./heap-probe.mjs', import.meta.url));

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

/**
 * Runs a bench's `main` to its end: a failure is printed under the bench's tag and sets exit code
 * 1; either way the children and fixtures go, and the process exits without waiting for stray
 * handles (sockets, timers) to wind down on their own.
 */
export async function runBench(tag: string, main: () => Promise<void>): Promise<never> {
  try {
    await main();
  } catch (err) {
    console.error(`[${tag}] failed:`, err);
    process.exitCode = 1;
  } finally {
    await shutdown();
  }
  process.exit();
}

export interface StartOptions {
  /** Targets to start (default all); direct, the simulator, always starts. */
  only?: readonly Target[];
  /** Extra keys registered to the enforcing targets, one tenant each. */
  extraKeys?: readonly string[];
  /** Node flags for a target's process, e.g. ['--cpu-prof']. */
  nodeArgs?: Partial<Record<Target, string[]>>;
}

/**
 * The bench runs the gateway as it ships (`node dist/src/server.js`, see the Dockerfile), not
 * through tsx: compiled with the build's settings (plus the plain proxy) into `dist-bench/`.
 * tsx's keep-names helper alone cost 3 % of the gateway's CPU in a profile.
 */
export function compileForBench(root: string, log: (line: string) => void): void {
  const started = performance.now();
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.bench.json'], { cwd: root, stdio: 'inherit' });
  log(`[bench] compiled src/ and the plain proxy into ${BUILD_DIR}/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const BUILD_DIR = 'dist-bench';

/** A TypeScript entry point (`src/server.ts`) as the compiled file the bench runs. */
function compiled(entry: string): string {
  return join(BUILD_DIR, entry.replace(/\.ts$/, '.js'));
}

export async function startTargets(settings: TargetSettings, log: (line: string) => void, options: StartOptions = {}): Promise<StartedTargets> {
  compileForBench(settings.root, log);
  const apiKey = benchKey();
  const wanted = (t: Target): boolean => options.only === undefined || options.only.includes(t);
  const extraKeys = options.extraKeys ?? [];
  const skipped: Partial<Record<Target, string>> = {};
  const fixtures: Partial<Record<Target, string>> = {};

  // The simulator and both databases are independent: prepare them side by side, and let all
  // three finish before acting on a failure, so no cleanup races a set-up still under way.
  const [sim, embedded, redis] = settledOrThrow(
    await Promise.allSettled([
      startSimulator(settings),
      wanted('embedded') ? prepareEmbedded(apiKey, cleanups, extraKeys) : undefined,
      (wanted('redis') ? prepareRedis(apiKey, cleanups, process.env, extraKeys) : Promise.resolve(undefined)).catch((err: unknown) => {
        if (!(err instanceof Unreachable)) throw err;
        skipped.redis = err.message;
        log(`[bench] skipping redis target: ${err.message}`);
        return undefined;
      }),
    ] as const),
  );
  if (embedded) fixtures.embedded = `DATA_DIR ${embedded.dataDir}`;
  if (redis) fixtures.redis = redis.shown;

  type Spec = [Target, string, Record<string, string>];
  const specs: Spec[] = [
    ...(wanted('plain') ? [['plain', 'bench/plain-gateway.ts', {}] satisfies Spec] : []),
    ...(embedded ? [['embedded', 'src/server.ts', { DATA_DIR: embedded.dataDir }] satisfies Spec] : []),
    ...(redis ? [['redis', 'src/server.ts', { DATABASE_URL: redis.databaseUrl, REDIS_URL: redis.redisUrl, REDIS_PREFIX: redis.redisPrefix }] satisfies Spec] : []),
  ];
  const heapFiles = new Map<Target, string>();
  for (const [t] of [...specs, ['bare'] as const, ['portkey'] as const]) {
    const file = join(tmpdir(), `budget-gateway-bench-heap-${process.pid}-${t}.json`);
    heapFiles.set(t, file);
    cleanups.add(`remove ${file}`, async () => {
      rmSync(file, { force: true });
      rmSync(`${file}.gc`, { force: true });
    });
  }
  const args = (t: Target): string[] => ['--expose-gc', '--import', HEAP_PROBE, ...(options.nodeArgs?.[t] ?? [])];
  const probe = (t: Target): Record<string, string> => ({ BENCH_HEAP_FILE: heapFiles.get(t)! });
  // Started together; every one that comes up is tracked, so a failure of one still stops the rest.
  const gateways = settledOrThrow(
    await Promise.allSettled([
      ...specs.map(([name, entry, env]) => startGateway(settings, name, entry, sim.url, { ...env, ...probe(name) }, args(name))),
      ...(wanted('bare') ? [startBare(settings, sim.url, probe('bare'), args('bare'))] : []),
      ...(wanted('portkey') ? [startPeer(settings, args('portkey'), probe('portkey'))] : []),
    ]),
  );
  const children = new Map<Target, RunningChild>([['direct', sim]]);
  const names: Target[] = [...specs.map(([name]) => name), ...(wanted('bare') ? (['bare'] as const) : []), ...(wanted('portkey') ? (['portkey'] as const) : [])];
  for (const name of TARGETS) {
    const i = names.indexOf(name);
    if (i !== -1) children.set(name, gateways[i]!);
  }
  return { children, apiKey, skipped, fixtures, heapFiles };
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
    args: [compiled('src/sim/main.ts')],
    cwd: settings.root,
    env: { ...process.env, SIM_PORT: String(port), SIM_HOST: settings.host } as Record<string, string>,
    readyLine: (line) => /^simulated LiteLLM listening on (\S+)/.exec(line)?.[1],
    timeoutMs: settings.timeoutMs,
  });
  started.push(sim);
  return sim;
}

/** The bare Node proxy (bench/bare-proxy.ts) in front of the simulator. */
async function startBare(settings: TargetSettings, upstreamUrl: string, extra: Record<string, string>, nodeArgs: readonly string[]): Promise<RunningChild> {
  const port = await freePort(settings.host);
  const child = await startChild({
    name: 'bare proxy',
    args: [...nodeArgs, compiled('bench/bare-proxy.ts')],
    cwd: settings.root,
    env: { ...AS_SHIPPED_ENV, ...inheritedEnv(), PORT: String(port), HOST: settings.host, LITELLM_BASE_URL: upstreamUrl, ...extra },
    readyLine: (line) => /^bare proxy listening on (\S+)/.exec(line)?.[1],
    timeoutMs: settings.timeoutMs,
  });
  started.push(child);
  return child;
}

/** Portkey, tracked for shutdown before its listening address is checked. */
async function startPeer(settings: TargetSettings, nodeArgs: readonly string[], env: Record<string, string>): Promise<RunningChild> {
  const child = await startPortkey(settings, nodeArgs, env);
  started.push(child);
  assertLoopbackOnly(child.process.pid!, Number(new URL(child.url).port));
  return child;
}

export async function startGateway(
  settings: TargetSettings,
  name: string,
  entry: string,
  upstreamUrl: string,
  extra: Record<string, string>,
  nodeArgs: readonly string[] = [],
): Promise<RunningChild> {
  const port = await freePort(settings.host);
  const child = await startChild({
    name: `${name} gateway`,
    args: [...nodeArgs, compiled(entry)],
    cwd: settings.root,
    env: { ...AS_SHIPPED_ENV, ...inheritedEnv(), PORT: String(port), HOST: settings.host, LITELLM_BASE_URL: upstreamUrl, LOG_LEVEL: 'warn', ...extra },
    readyLine: gatewayReadyLine,
    // At LOG_LEVEL=warn the info-level ready line is not printed, so also accept a healthy /healthz.
    probeUrl: `http://${settings.host}:${port}/healthz`,
    timeoutMs: settings.timeoutMs,
  });
  started.push(child);
  return child;
}

/** Our environment without the settings the bench sets itself. */
function inheritedEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !OWNED_ENV.includes(e[0])));
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
