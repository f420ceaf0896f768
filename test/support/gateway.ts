import { createServer } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM, type SimOptions } from '../../src/sim/litellm.js';
import { loadConfig } from '../../src/config.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logger.js';

export interface TestGateway extends Gateway {
  /** An OpenAI SDK client pointed at the gateway, as an application would configure it. */
  client(options?: { apiKey?: string; timeout?: number }): OpenAI;
  metrics(): Promise<string>;
}

/** A gateway on an ephemeral port, configured through the same env parsing as production. */
export async function startTestGateway(env: Record<string, string>): Promise<TestGateway> {
  const config = loadConfig({ PORT: '0', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...env });
  const gateway = await startGateway(config, createLogger(config.logLevel));
  return {
    ...gateway,
    client: (options = {}) =>
      new OpenAI({
        apiKey: options.apiKey ?? 'sk-tenant-test',
        baseURL: `${gateway.url}/v1`,
        maxRetries: 0,
        timeout: options.timeout ?? 10_000,
      }),
    metrics: async () => (await fetch(`${gateway.url}/metrics`)).text(),
  };
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
}

/** One simulated LiteLLM and a gateway in front of it for the enclosing suite. */
export function withSimAndGateway(env: Record<string, string> = {}, simOptions: Partial<SimOptions> = {}): SimAndGateway {
  const suite = {} as { sim: SimLiteLLM; gateway: TestGateway };
  beforeAll(async () => {
    suite.sim = await startSimLiteLLM(simOptions);
    suite.gateway = await startTestGateway({ LITELLM_BASE_URL: suite.sim.url, ...env });
  });
  afterAll(async () => {
    await suite.gateway?.shutdown();
    await suite.sim?.close();
  });
  return suite;
}
