// Benchmark: the budget code alone, in a loop. What admission (`BudgetGuard.admit`) and settlement
// (`Settlement.complete`) cost one request, wired as the embedded gateway wires them (in-process
// store, real metrics, no leases), with no HTTP, no sockets and no other process on the cores: a
// change of a few tenths of a µs, which no run of the gateway on a shared 2-core machine can
// show, shows here. Requests go in batches of `--concurrency` admitted together, then settled.
// The loop's own cost is measured beside it with the plain proxy's stubs in place of the two calls
// (bench/plain-gateway.ts), and rounds alternate between the stubs and every checkout.
// The usage events go to a counter, not the ledger (the database is another thread's work).
// Usage: npm run bench:loop -- [--roots /tmp/before,.] [--rounds 12] [--requests 200000] [--concurrency 64]

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type * as Durations from '../src/budget/duration.js';
import type * as Periods from '../src/budget/period.js';
import type * as Scopes from '../src/budget/scopes.js';
import type * as Guard from '../src/guard/budget-guard.js';
import type * as Crossings from '../src/guard/crossings.js';
import type * as Prices from '../src/guard/price-book.js';
import type * as Settle from '../src/guard/settlement.js';
import type * as Log from '../src/logger.js';
import type * as Metrics from '../src/metrics.js';
import type * as Memory from '../src/store/memory.js';
import { benchCaller } from './lib/bench-caller.js';
import { UsageError } from './lib/options.js';
import { spread } from './lib/stats.js';
import { cell, fixed, table } from './lib/tables.js';
import { compileForBench } from './lib/targets.js';

const { values } = parseArgs({
  options: { roots: { type: 'string' }, rounds: { type: 'string' }, requests: { type: 'string' }, concurrency: { type: 'string' } },
});
const roots = (values.roots ?? '.').split(',').filter((r) => r !== '').map((r) => resolve(r.trim()));
const rounds = Number(values.rounds ?? 12);
const requests = Number(values.requests ?? 200_000);
const concurrency = Number(values.concurrency ?? 64);

const MODEL = 'gpt-4o-mini';
const ENDPOINT = '/v1/chat/completions';
/** The bench's chat request (bench/lib/scenarios.ts) and an answer's usage and cost header, as the simulator sends them. */
const BODY = { model: MODEL, messages: [{ role: 'user', content: 'Say hello in one short sentence.' }], max_tokens: 64 };
const USAGE = { promptTokens: 12, completionTokens: 20, costUsd: undefined };
const COST_HEADER = '0.000052';

/** One request in the proxy's two steps: admitted (at once, or a promise of it), then, once its answer is in, settled. */
interface Request {
  admit(i: number): object | Promise<object>;
  complete(admission: object): void;
}

const us3 = fixed(3);

/** Admission and settlement of one request through the checkout's compiled code, with the embedded gateway's wiring. */
async function enforcing(root: string): Promise<{ request: Request; events: () => number }> {
  const load = <T>(file: string): Promise<T> => import(pathToFileURL(resolve(root, 'dist-bench/src', file)).href) as Promise<T>;
  const [{ BudgetGuard }, { Settlement }, { MemorySpendStore }, { PriceBook }, { CrossingRecorder }, { createMetrics }, { createLogger }, { budgetsFor }, { parseDuration }, { firstPeriod }] =
    await Promise.all([
      load<typeof Guard>('guard/budget-guard.js'),
      load<typeof Settle>('guard/settlement.js'),
      load<typeof Memory>('store/memory.js'),
      load<typeof Prices>('guard/price-book.js'),
      load<typeof Crossings>('guard/crossings.js'),
      load<typeof Metrics>('metrics.js'),
      load<typeof Log>('logger.js'),
      load<typeof Scopes>('budget/scopes.js'),
      load<typeof Durations>('budget/duration.js'),
      load<typeof Periods>('budget/period.js'),
    ]);
  const now = () => Date.now();
  let events = 0;
  const store = new MemorySpendStore(() => void events++, now);
  const duration = parseDuration('30d');
  const period = firstPeriod(now(), duration);
  const caller = benchCaller('key_loop', duration, period);
  // The buckets exist, as after a gateway's first request (seeding reads the ledger: not measured).
  for (const b of budgetsFor({ tenant: caller.tenant, global: undefined, keyId: caller.keyId, keyBudgetMicros: null, model: MODEL, nowMs: now() })) {
    await store.seed(b.key, 0, b.period.endMs);
  }
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = createLogger('silent');
  const prices = new PriceBook({ [MODEL]: { input_per_million: 0.15, output_per_million: 0.6 } });
  // Never asked to write: every spend stays below the alert line.
  const noDatabase = {} as ConstructorParameters<typeof BudgetGuard>[1];
  const guard = new BudgetGuard(store, noDatabase, prices, new CrossingRecorder(noDatabase, logger), metrics, logger, now, () => undefined, {
    failMode: 'closed',
    leases: undefined,
    reservationTtlMs: 600_000,
    defaultCompletionTokens: 256,
    fallbackPrice: { inputPerMillion: 1, outputPerMillion: 1 },
  });
  const settlement = new Settlement(store, guard, prices, metrics, logger, now, undefined);
  const request: Request = {
    admit: (i) => guard.admit(caller, { endpoint: ENDPOINT, model: MODEL, body: BODY }, `req_loop_${i}`),
    complete: (admission) =>
      settlement.complete(admission as Guard.Admission, { statusCode: 200, usage: USAGE, costHeader: COST_HEADER, clientRequestId: null, endpoint: ENDPOINT, model: MODEL }),
  };
  return { request, events: () => events };
}

/** The plain proxy's stubs: an admission built and handed back, a settlement that does nothing. */
function stubbed(): Request {
  return { admit: (i) => ({ requestId: `req_loop_${i}`, reserved: false, headers: {} }), complete: () => {} };
}

/**
 * µs per request over `requests`, in batches of `concurrency` admitted together and then settled
 * one by one; an admission given at once is not awaited, as the proxy (`forward`) does not.
 */
async function timed(request: Request): Promise<number> {
  const started = process.hrtime.bigint();
  const admitted: (object | Promise<object>)[] = [];
  for (let i = 0; i < requests; i += concurrency) {
    admitted.length = 0;
    for (let j = i; j < Math.min(i + concurrency, requests); j++) admitted.push(request.admit(j));
    for (const a of admitted) request.complete(a instanceof Promise ? await a : a);
    // What the batch's settles queued runs before the next batch, as between a gateway's events
    // (without a turn here, admissions given at once would run a whole round in one go).
    await null;
  }
  return Number(process.hrtime.bigint() - started) / 1000 / requests;
}

async function main(): Promise<void> {
  if (!Number.isInteger(rounds) || rounds < 2) throw new UsageError('--rounds: expected an integer of at least 2 (the first round is a warm-up)');
  if (!Number.isInteger(requests) || requests < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
    throw new UsageError('--requests and --concurrency: expected positive integers');
  }
  const checkouts: { root: string; request: Request; events: () => number; samples: number[] }[] = [];
  for (const root of roots) {
    compileForBench(root, console.log);
    checkouts.push({ root, ...(await enforcing(root)), samples: [] });
  }
  const loop = { request: stubbed(), samples: [] as number[] };
  console.log(`[bench:loop] ${requests} requests per round in batches of ${concurrency}, ${rounds} rounds, alternating; round 1 is a warm-up`);
  for (let round = 1; round <= rounds; round++) {
    const order = [loop, ...checkouts];
    if (round % 2 === 0) order.reverse();
    for (const run of order) {
      const us = await timed(run.request);
      if (round > 1) run.samples.push(us);
    }
    const last = (samples: number[]) => (round > 1 ? us3(samples.at(-1)!) : 'warm-up');
    console.log(`[bench:loop] round ${round}: the loop ${last(loop.samples)}, ${checkouts.map((c) => `${c.root} ${last(c.samples)}`).join(', ')} µs per request`);
  }
  for (const c of checkouts) {
    if (c.events() !== rounds * requests) throw new Error(`${c.root}: ${c.events()} usage events for ${rounds * requests} requests`);
  }
  const loopUs = spread(loop.samples);
  const rows = [
    ['the loop alone (stubs)', cell(loopUs, us3), '—'],
    ...checkouts.map((c) => {
      const s = spread(c.samples);
      return [c.root, cell(s, us3), us3(s.median - loopUs.median)];
    }),
  ];
  console.log(`\n${table(['', 'µs per request', 'budget code: less the loop (medians)'], rows)}`);
  if (checkouts.length === 2) {
    const ratios = checkouts[1]!.samples.map((b, i) => b / checkouts[0]!.samples[i]!);
    console.log(`B ÷ A, µs per request, round by round: ${cell(spread(ratios), us3)}`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof UsageError ? err.message : err);
  process.exitCode = 1;
});
