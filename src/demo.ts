import { firstPeriod } from './budget/period.js';
import { parseDuration } from './budget/duration.js';
import { ConfigError, loadConfig } from './config.js';
import type { Db } from './db/client.js';
import { createKey, KeyAlreadyRegisteredError } from './db/keys.js';
import { getTenant, upsertTenant } from './db/tenants.js';
import { startGateway } from './gateway.js';
import { createLogger } from './logger.js';
import { startSimLiteLLM } from './sim/litellm.js';

/**
 * `npm run demo`: the gateway on embedded defaults in front of the simulated LiteLLM, so the
 * whole path can be tried with one command and no real provider.
 */
async function demo(): Promise<void> {
  const sim = await startSimLiteLLM({ chunkDelayMs: 150 });
  let config;
  try {
    config = loadConfig({ ...process.env, LITELLM_BASE_URL: sim.url });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`budget-gateway demo: invalid configuration: ${err.message}\n`);
    process.exit(1);
  }
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const gateway = await startGateway(config, logger);
  await ensureDemoTenant(gateway.services.database.db);

  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello!' }] });
  process.stdout.write(
    [
      `budget-gateway demo: gateway ${gateway.url} -> simulated LiteLLM ${sim.url}`,
      `Tenant "${DEMO_TENANT}" has a $${DEMO_BUDGET_USD} budget; its key is ${DEMO_KEY}. Watch the x-budget-* headers (curl -i).`,
      '',
      'Try it:',
      `  curl -s ${gateway.url}/v1/chat/completions -H 'authorization: Bearer sk-demo' -H 'content-type: application/json' -d '${body}'`,
      '',
      'Streamed (chunks arrive as the upstream sends them):',
      `  curl -sN ${gateway.url}/v1/chat/completions -H 'authorization: Bearer sk-demo' -H 'content-type: application/json' -d '${body.replace('}]}', '}],"stream":true}')}'`,
      '',
      `Metrics: curl -s ${gateway.url}/metrics | grep budget_gateway_`,
      'Ctrl-C stops both.',
      '',
    ].join('\n'),
  );

  const stop = async () => {
    await gateway.shutdown();
    await sim.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

const DEMO_TENANT = 'demo';
const DEMO_KEY = 'sk-demo';
const DEMO_BUDGET_USD = 1;

/** The demo's tenant and key, created on the first run and kept in DATA_DIR afterwards. */
async function ensureDemoTenant(db: Db): Promise<void> {
  if (!(await getTenant(db, DEMO_TENANT))) {
    const period = firstPeriod(Date.now(), parseDuration('1d'));
    await upsertTenant(db, {
      tenantId: DEMO_TENANT,
      name: 'Demo tenant',
      maxBudgetMicros: DEMO_BUDGET_USD * 1_000_000,
      alertThreshold: 80,
      graceThreshold: 110,
      budgetDuration: '1d',
      firstPeriod: { startedAt: new Date(period.startMs), resetAt: new Date(period.endMs) },
    });
  }
  await createKey(db, DEMO_TENANT, { key: DEMO_KEY }).catch((err: unknown) => {
    if (!(err instanceof KeyAlreadyRegisteredError)) throw err;
  });
}

demo().catch((err: unknown) => {
  process.stderr.write(`budget-gateway demo: ${(err as Error).message}\n`);
  process.exit(1);
});
