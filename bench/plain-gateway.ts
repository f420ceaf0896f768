// Bench-only "plain proxy": the gateway's own HTTP app and proxy path (src/app.ts, src/proxy/) with
// the budget parts replaced by stubs, so the bench can tell what budget enforcement costs on top of
// proxying. It lives in bench/ only: the product has no switch that turns budgets off.
//
// Stubs: every key resolves to one fixed tenant with a registered-origin key (the client's
// Authorization goes upstream unchanged, as for a registered LiteLLM key); admission reserves
// nothing (`reserved: false`, no budget headers); settlement does nothing. Everything else is as
// in src/gateway.ts: the upstream pool, breaker, metrics, logger, in-flight tracking.
// Env: PORT, HOST, LITELLM_BASE_URL, LOG_LEVEL and the UPSTREAM_*/BREAKER_* knobs via loadConfig.
// Usage: node --import tsx bench/plain-gateway.ts

import { createApp } from '../src/app.js';
import { listen } from '../src/gateway.js';
import { parseDuration } from '../src/budget/duration.js';
import { firstPeriod } from '../src/budget/period.js';
import { budgetsFor } from '../src/budget/scopes.js';
import { ConfigError, loadConfig, type Config } from '../src/config.js';
import { tuneGarbageCollection } from '../src/gc-tuning.js';
import type { Admission, BudgetGuard } from '../src/guard/budget-guard.js';
import type { Settlement } from '../src/guard/settlement.js';
import type { Caller, TenantDirectory } from '../src/guard/tenant-directory.js';
import { InFlight } from '../src/http/in-flight.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { createBreaker } from '../src/proxy/breaker.js';
import { createUpstream } from '../src/proxy/upstream.js';
import { benchCaller } from './lib/bench-caller.js';

const DURATION = parseDuration('30d');
const PERIOD = firstPeriod(Date.now(), DURATION);

// The same tenant the enforcing targets get.
const fixedCaller: Caller = benchCaller('key_plain_bench', DURATION, PERIOD);
const BUDGETS = budgetsFor({ tenant: fixedCaller.tenant, global: undefined, keyId: fixedCaller.keyId, keyBudgetMicros: null, model: undefined, nowMs: Date.now() });

const directory: Pick<TenantDirectory, 'known' | 'resolve'> = { known: () => fixedCaller, resolve: async () => fixedCaller };

const guard: Pick<BudgetGuard, 'admit' | 'view'> = {
  // At once, as the real admission answers when nothing has to be waited for.
  admit: (caller, _request, requestId): Admission => ({
    requestId,
    reservationId: requestId,
    lease: undefined,
    caller,
    period: PERIOD,
    budgets: BUDGETS,
    amounts: [0],
    estimate: { micros: 0, tokens: 0 },
    model: undefined,
    global: undefined,
    status: 'ok',
    reserved: false,
    headers: {},
  }),
  view: async () => ({}),
};

const settlement: Pick<Settlement, 'complete'> = { complete() {} };

async function main(): Promise<void> {
  tuneGarbageCollection();
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`plain-gateway: invalid configuration: ${err.message}\n`);
    process.exit(1);
  }
  const logger = createLogger(config.logLevel);
  const metrics = createMetrics({ tenantLabelCap: config.budget.metricsTenantCap });
  const inFlight = new InFlight();
  const upstream = createUpstream(config.litellmBaseUrl, config.upstream);
  const breaker = createBreaker(config.breaker, metrics, logger);
  const app = createApp({
    upstream,
    breaker,
    metrics,
    logger,
    inFlight,
    readiness: [],
    directory,
    guard,
    settlement,
    maxBodyBytes: config.maxBodyBytes,
    gatewayUpstreamKey: config.litellmApiKey,
  });

  const { server, url } = await listen(app, config.port, config.host);
  logger.info({ url, upstream: config.litellmBaseUrl, budgets: 'stubbed (bench plain proxy)' }, 'budget-gateway listening');

  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    breaker.shutdown();
    void upstream.pool.destroy().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`plain-gateway: failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
