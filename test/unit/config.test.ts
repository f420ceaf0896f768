import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

function yamlFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'bg-config-')), 'gateway.yaml');
  writeFileSync(path, text);
  return path;
}

describe('loadConfig', () => {
  it('has the contract defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      litellmBaseUrl: 'http://127.0.0.1:4000',
      litellmMasterKey: undefined,
      litellmApiKey: undefined,
      databaseUrl: undefined,
      dataDir: './data',
      redisUrl: undefined,
      adminApiKey: undefined,
      budgetFailMode: 'open',
      resetCron: '* * * * *',
      overrideExpiryCron: '0 * * * *',
      logLevel: 'info',
      upstream: { headersTimeoutMs: 600_000, bodyTimeoutMs: 600_000 },
      ledgerClaimIdleMs: 30_000,
    });
    expect(config.configFile).toEqual({ prices: {}, tenant_defaults: {}, tenants: [] });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads every variable it is given', () => {
    const config = loadConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      LITELLM_BASE_URL: 'http://litellm:4000/',
      DATABASE_URL: 'postgres://u:p@db:5432/x',
      REDIS_URL: 'redis://cache:6379',
      BUDGET_FAIL_MODE: 'closed',
      RESET_CRON: '*/5 * * * *',
      LOG_LEVEL: 'debug',
      UPSTREAM_HEADERS_TIMEOUT_MS: '900000',
      LEDGER_CLAIM_IDLE_MS: '2000',
    });
    expect(config).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      litellmBaseUrl: 'http://litellm:4000',
      databaseUrl: 'postgres://u:p@db:5432/x',
      redisUrl: 'redis://cache:6379',
      budgetFailMode: 'closed',
      resetCron: '*/5 * * * *',
      logLevel: 'debug',
      upstream: { headersTimeoutMs: 900_000 },
      ledgerClaimIdleMs: 2_000,
    });
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT: must be an integer from 0 to 65535 (got "abc")'],
    [{ PORT: '70000' }, 'PORT: must be an integer from 0 to 65535 (got "70000")'],
    [{ BUDGET_FAIL_MODE: 'maybe' }, 'BUDGET_FAIL_MODE: must be one of open, closed (got "maybe")'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "loud")'],
    [{ RESET_CRON: '61 * * * *' }, 'RESET_CRON: must be a cron expression such as "*/5 * * * *" (got "61 * * * *")'],
    [{ LITELLM_BASE_URL: 'not a url' }, 'LITELLM_BASE_URL: must be a URL (http: or https:)'],
    [{ REDIS_URL: 'http://cache:6379' }, 'REDIS_URL: must use redis: or rediss:'],
    [{ DATABASE_URL: 'mysql://db/x' }, 'DATABASE_URL: must use postgres: or postgresql:'],
    [{ ADMIN_API_KEY: 'short' }, 'ADMIN_API_KEY: must be at least 16 characters long'],
    [{ HOST: 'not a host!!' }, 'HOST: must be an IP address or a host name (got "not a host!!")'],
    [{ LEDGER_CLAIM_IDLE_MS: '500' }, 'LEDGER_CLAIM_IDLE_MS: must be an integer from 1000 to 3600000 (got "500")'],
    [
      { LITELLM_MASTER_KEY: 'sk-master-1234', LITELLM_API_KEY: 'sk-master-1234' },
      'LITELLM_API_KEY: must not be LITELLM_MASTER_KEY, which is never sent on proxied requests: use a LiteLLM virtual key',
    ],
  ])('refuses %o with one line naming the variable', (env, message) => {
    expect(configError(env)).toBe(message);
  });

  it('takes an upstream key beside a different master key', () => {
    const config = loadConfig({ LITELLM_MASTER_KEY: 'sk-master-1234', LITELLM_API_KEY: 'sk-virtual-5678' });
    expect([config.litellmMasterKey, config.litellmApiKey]).toEqual(['sk-master-1234', 'sk-virtual-5678']);
  });

  it('never echoes a URL, which may carry a password', () => {
    expect(configError({ DATABASE_URL: 'mysql://user:hunter2@db/x' })).not.toContain('hunter2');
  });

  it('loads prices, tenant defaults and tenants from CONFIG_FILE', () => {
    const path = yamlFile(`
prices:
  gpt-4o-mini: { input_per_million: 0.15, output_per_million: 0.6 }
tenant_defaults: { max_budget: 100, budget_duration: 30d }
tenants:
  - { tenant_id: acme, max_budget: 500, budget_duration: 1mo }
`);
    const { configFile } = loadConfig({ CONFIG_FILE: path });
    expect(configFile.prices['gpt-4o-mini']).toEqual({ input_per_million: 0.15, output_per_million: 0.6 });
    expect(configFile.tenant_defaults).toEqual({ max_budget: 100, budget_duration: '30d' });
    expect(configFile.tenants).toEqual([{ tenant_id: 'acme', max_budget: 500, budget_duration: '1mo' }]);
  });

  it('loads the example config shipped in config/', () => {
    const { configFile } = loadConfig({ CONFIG_FILE: 'config/gateway.example.yaml' });
    expect(Object.keys(configFile.prices).length).toBeGreaterThan(0);
  });

  it('names the file and the field when CONFIG_FILE is wrong', () => {
    expect(configError({ CONFIG_FILE: '/no/such/file.yaml' })).toMatch(/^CONFIG_FILE: cannot read \/no\/such\/file\.yaml: /);
    const path = yamlFile('tenants:\n  - { tenant_id: acme, max_budget: 5, budget_duration: 3m }\n');
    expect(configError({ CONFIG_FILE: path })).toBe(`CONFIG_FILE: ${path}: tenants.0.budget_duration: must look like 12h, 30d, 1w or 1mo`);
    const unknown = yamlFile('pricez: {}\n');
    expect(configError({ CONFIG_FILE: unknown })).toMatch(/^CONFIG_FILE: .*: \(root\): Unrecognized key/);
  });
});
