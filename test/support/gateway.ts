import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM, type SimOptions } from '../../src/sim/litellm.js';
import { loadConfig } from '../../src/config.js';
import type { Database, Db } from '../../src/db/client.js';
import { createKey } from '../../src/db/keys.js';
import type { TenantConfig } from '../../src/db/tenants.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logger.js';
import { openTestDatabase, type TestDatabase } from './databases.js';
import { createTenant } from './tenants.js';

export interface TestGateway extends Gateway {
  /** An OpenAI SDK client pointed at the gateway, as an application would configure it. */
  client(options?: { apiKey?: string; timeout?: number }): OpenAI;
  metrics(): Promise<string>;
  readonly db: Db;
  /** A new tenant (a $100 budget unless overridden) with one key (minted unless given). */
  createTenant(overrides?: Partial<TenantConfig>, key?: { key?: string }): Promise<TestTenant>;
}

export interface TestTenant {
  readonly tenantId: string;
  readonly key: string;
  readonly keyId: string;
}

export interface TestGatewayOptions {
  readonly now?: () => number;
  /** Share this database (replicas); by default the test file's own database. */
  readonly database?: Database;
  /** How long a headroom lease lends (set in config, not from the environment; 1 s by default). */
  readonly leaseLifetimeMs?: number;
}

/** The admin key test gateways run with, unless a test sets its own. */
export const TEST_ADMIN_KEY = 'test-admin-key-0123456789';

let fileDatabase: Promise<TestDatabase> | undefined;

/** The test file's database: PostgreSQL (a fresh schema) with TEST_DATABASE_URL, else PGlite. */
export function testDatabase(): Promise<Database> {
  fileDatabase ??= openTestDatabase();
  return fileDatabase.then((t) => t.database);
}

afterAll(async () => {
  const opened = fileDatabase;
  fileDatabase = undefined;
  await (await opened)?.close();
});

/** A gateway on an ephemeral port, configured through the same env parsing as production. */
export async function startTestGateway(env: Record<string, string>, options: TestGatewayOptions = {}): Promise<TestGateway> {
  const loaded = loadConfig({ PORT: '0', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ADMIN_API_KEY: TEST_ADMIN_KEY, ...env });
  const { leaseLifetimeMs } = options;
  const config =
    leaseLifetimeMs === undefined ? loaded : { ...loaded, budget: { ...loaded.budget, leases: { ...loaded.budget.leases, lifetimeMs: leaseLifetimeMs } } };
  const database = options.database ?? (await testDatabase());
  const gateway = await startGateway(config, createLogger(config.logLevel), { database, now: options.now });
  return {
    ...gateway,
    db: database.db,
    client: (clientOptions = {}) =>
      new OpenAI({
        apiKey: clientOptions.apiKey ?? 'sk-no-such-key',
        baseURL: `${gateway.url}/v1`,
        maxRetries: 0,
        timeout: clientOptions.timeout ?? 10_000,
      }),
    metrics: async () => (await fetch(`${gateway.url}/metrics`)).text(),
    createTenant: (overrides, key) => createTestTenant(database.db, overrides, key),
  };
}

export async function createTestTenant(db: Db, overrides: Partial<TenantConfig> = {}, key: { key?: string } = {}): Promise<TestTenant> {
  const tenant = await createTenant(db, overrides);
  const created = await createKey(db, tenant.tenantId, key);
  return { tenantId: tenant.tenantId, key: created.key, keyId: created.keyId };
}

/** The value of one sample line in Prometheus text, e.g. `name{label="x"}`; 0 when absent. */
export function sample(metricsText: string, series: string): number {
  for (const line of metricsText.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return 0;
}

/** A port on loopback that nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface SimAndGateway {
  readonly sim: SimLiteLLM;
  readonly gateway: TestGateway;
  /** A tenant with a budget no test exhausts; `gateway.client()` without a key uses it. */
  readonly tenant: TestTenant;
}

/** One simulated LiteLLM and a gateway in front of it (on `options`' clock, if given) for the enclosing suite. */
export function withSimAndGateway(env: Record<string, string> = {}, simOptions: Partial<SimOptions> = {}, options: TestGatewayOptions = {}): SimAndGateway {
  const suite = {} as { sim: SimLiteLLM; gateway: TestGateway; tenant: TestTenant };
  beforeAll(async () => {
    suite.sim = await startSimLiteLLM(simOptions);
    const gateway = await startTestGateway({ LITELLM_BASE_URL: suite.sim.url, ...env }, options);
    suite.tenant = await gateway.createTenant({ maxBudgetMicros: 1_000_000_000_000 }, { key: `sk-litellm-${randomUUID()}` });
    suite.gateway = { ...gateway, client: (options = {}) => gateway.client({ apiKey: suite.tenant.key, ...options }) };
  });
  afterAll(async () => {
    await suite.gateway?.shutdown();
    await suite.sim?.close();
  });
  return suite;
}

/** Chat requests the simulator has seen (the gateway also asks it for /model/info at start). */
export function chatCalls(sim: SimLiteLLM): number {
  return sim.requests.filter((r) => r.path.endsWith('/chat/completions')).length;
}

/** What one answer to `sendChat` costs (the simulator's x-litellm-response-cost), in micro-dollars. */
export const CHAT_MICROS = 11;

/**
 * One small chat completion over raw HTTP (no SDK retries, the body read and dropped): what the
 * replica races send by the hundred.
 */
export async function sendChat(gateway: Pick<TestGateway, 'url'>, tenant: Pick<TestTenant, 'key'>) {
  const res = await request(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5 }),
  });
  await res.body.dump();
  return res;
}
