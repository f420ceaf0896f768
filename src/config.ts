import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { validate as isValidCron } from 'node-cron';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { LeaseSizing } from './guard/leases.js';

/**
 * The one place that reads the environment (CONTRACT section 1). Everything is parsed once into a
 * frozen, typed Config with explicit units (ms, bytes); a bad value raises ConfigError naming the
 * variable, which the process turns into one line on stderr and exit code 1.
 */

/** Dot-separated labels of letters, digits and hyphens (RFC 1123). */
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const DURATION = /^[1-9][0-9]*(h|d|w|mo)$/;

const modelPrice = z.strictObject({
  input_per_million: z.number().nonnegative(),
  output_per_million: z.number().nonnegative().default(0),
});

const tenantFields = {
  max_budget: z.number().nonnegative(),
  alert_threshold: z.number().gt(0).lte(100),
  grace_threshold: z.number().gte(100),
  budget_duration: z.string().regex(DURATION, 'must look like 12h, 30d, 1w or 1mo'),
};

const configFileSchema = z.strictObject({
  prices: z.record(z.string(), modelPrice).default({}),
  tenant_defaults: z.strictObject(tenantFields).partial().default({}),
  tenants: z
    .array(
      z.strictObject({
        tenant_id: z.string().min(1),
        name: z.string().optional(),
        ...tenantFields,
        alert_threshold: tenantFields.alert_threshold.optional(),
        grace_threshold: tenantFields.grace_threshold.optional(),
        budget_duration: tenantFields.budget_duration.optional(),
        budget_reset_at: z.iso.datetime({ offset: true }).optional(),
        /** LiteLLM virtual keys to register for the tenant (forwarded unchanged upstream). */
        keys: z.array(z.string().min(8)).optional(),
      }),
    )
    .default([]),
});

export type ConfigFile = z.infer<typeof configFileSchema>;

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly litellmBaseUrl: string;
  readonly litellmMasterKey: string | undefined;
  readonly litellmApiKey: string | undefined;
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly redisUrl: string | undefined;
  /** Prefix of every Redis key and channel the gateway uses, so deployments can share a Redis. */
  readonly redisPrefix: string;
  readonly adminApiKey: string | undefined;
  readonly budgetFailMode: 'open' | 'closed';
  readonly configFile: ConfigFile;
  readonly resetCron: string;
  readonly overrideExpiryCron: string;
  readonly notifyWebhookUrl: string | undefined;
  readonly notifyWebhookSecret: string | undefined;
  readonly notifySlackWebhookUrl: string | undefined;
  readonly litellmWebhookSecret: string | undefined;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly upstream: UpstreamConfig;
  readonly breaker: BreakerConfig;
  readonly maxBodyBytes: number;
  readonly shutdownDrainMs: number;
  /** Usage events a replica read from the Redis stream but left unwritten this long are taken over (it died). */
  readonly ledgerClaimIdleMs: number;
  readonly budget: BudgetTuning;
}

export interface BudgetTuning {
  /** How long a reservation outlives a replica that died holding it. */
  readonly reservationTtlMs: number;
  /** Completion tokens assumed for a request that sets no limit of its own. */
  readonly defaultCompletionTokens: number;
  /** Distinct tenants with their own metric label; the rest are `other`. */
  readonly metricsTenantCap: number;
  /** How often LiteLLM's /model/info prices are reloaded. */
  readonly priceRefreshMs: number;
  /**
   * Headroom leases, with a shared store (src/guard/leases.ts): requests per lease wanted, at
   * most, and how long a lease lends before what it did not use goes back. Fixed here, not read
   * from the environment; tests lengthen the lifetime to watch a lease while it lives.
   */
  readonly leases: LeaseSizing & { readonly lifetimeMs: number };
}

export interface UpstreamConfig {
  readonly connections: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly keepAliveMs: number;
}

export interface BreakerConfig {
  readonly errorThresholdPercent: number;
  readonly volumeThreshold: number;
  readonly rollingWindowMs: number;
  readonly resetTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env): Config {
  const read = new EnvReader(env);
  const configFilePath = read.optional('CONFIG_FILE');
  const litellmMasterKey = read.optional('LITELLM_MASTER_KEY');
  const litellmApiKey = read.optional('LITELLM_API_KEY');
  // CONTRACT section 1: the master key is never sent on proxied requests, and LITELLM_API_KEY is.
  if (litellmApiKey !== undefined && litellmApiKey === litellmMasterKey) {
    throw new ConfigError('LITELLM_API_KEY: must not be LITELLM_MASTER_KEY, which is never sent on proxied requests: use a LiteLLM virtual key');
  }
  return Object.freeze({
    port: read.integer('PORT', 8080, 0, 65535),
    host: read.host('HOST', '127.0.0.1'),
    litellmBaseUrl: read.httpUrl('LITELLM_BASE_URL', 'http://127.0.0.1:4000'),
    litellmMasterKey,
    litellmApiKey,
    databaseUrl: read.databaseUrl('DATABASE_URL'),
    dataDir: read.string('DATA_DIR', './data'),
    redisUrl: read.redisUrl('REDIS_URL'),
    redisPrefix: read.string('REDIS_PREFIX', 'bg:'),
    adminApiKey: read.secret('ADMIN_API_KEY', 16),
    budgetFailMode: read.oneOf('BUDGET_FAIL_MODE', ['open', 'closed'] as const, 'open'),
    configFile: configFilePath === undefined ? configFileSchema.parse({}) : loadConfigFile(configFilePath),
    resetCron: read.cron('RESET_CRON', '* * * * *'),
    overrideExpiryCron: read.cron('OVERRIDE_EXPIRY_CRON', '0 * * * *'),
    notifyWebhookUrl: read.optionalHttpUrl('NOTIFY_WEBHOOK_URL'),
    notifyWebhookSecret: read.optional('NOTIFY_WEBHOOK_SECRET'),
    notifySlackWebhookUrl: read.optionalHttpUrl('NOTIFY_SLACK_WEBHOOK_URL'),
    litellmWebhookSecret: read.optional('LITELLM_WEBHOOK_SECRET'),
    logLevel: read.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    upstream: Object.freeze({
      connections: read.integer('UPSTREAM_CONNECTIONS', 128, 1, 10_000),
      connectTimeoutMs: read.integer('UPSTREAM_CONNECT_TIMEOUT_MS', 10_000, 1, 600_000),
      headersTimeoutMs: read.integer('UPSTREAM_HEADERS_TIMEOUT_MS', 600_000, 1, 86_400_000),
      bodyTimeoutMs: read.integer('UPSTREAM_BODY_TIMEOUT_MS', 600_000, 1, 86_400_000),
      // Below uvicorn's 5 s keep-alive (LiteLLM's server), so the gateway never reuses a
      // connection the upstream is closing: a POST on such a socket would fail, not retry.
      keepAliveMs: read.integer('UPSTREAM_KEEPALIVE_MS', 4_000, 1, 600_000),
    }),
    breaker: Object.freeze({
      errorThresholdPercent: read.integer('BREAKER_ERROR_THRESHOLD_PERCENT', 50, 1, 100),
      volumeThreshold: read.integer('BREAKER_VOLUME_THRESHOLD', 20, 1, 1_000_000),
      rollingWindowMs: read.integer('BREAKER_ROLLING_WINDOW_MS', 10_000, 100, 3_600_000),
      resetTimeoutMs: read.integer('BREAKER_RESET_TIMEOUT_MS', 10_000, 1, 3_600_000),
    }),
    maxBodyBytes: read.integer('MAX_BODY_BYTES', 32 * 1024 * 1024, 1, 1024 * 1024 * 1024),
    shutdownDrainMs: read.integer('SHUTDOWN_DRAIN_MS', 30_000, 0, 3_600_000),
    // Above a live replica's worst database write, or it would have its batch taken (harmless,
    // writes are idempotent, but wasted); below it, a dead replica's usage waits longer.
    ledgerClaimIdleMs: read.integer('LEDGER_CLAIM_IDLE_MS', 30_000, 1_000, 3_600_000),
    budget: Object.freeze({
      reservationTtlMs: read.integer('RESERVATION_TTL_MS', 900_000, 1_000, 86_400_000),
      defaultCompletionTokens: read.integer('DEFAULT_COMPLETION_TOKENS', 512, 1, 10_000_000),
      metricsTenantCap: read.integer('METRICS_TENANT_CAP', 200, 1, 100_000),
      priceRefreshMs: read.integer('PRICE_REFRESH_MS', 600_000, 1_000, 86_400_000),
      leases: Object.freeze({ requestsPerLease: 8, maxRequestsPerLease: 512, lifetimeMs: 1_000 }),
    }),
  });
}

function loadConfigFile(path: string): ConfigFile {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`CONFIG_FILE: cannot read ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = configFileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`CONFIG_FILE: ${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** Reads one variable at a time, so every error names the variable it is about. */
class EnvReader {
  constructor(private readonly env: Env) {}

  optional(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === '' ? undefined : value;
  }

  string(name: string, fallback: string): string {
    return this.optional(name) ?? fallback;
  }

  /** An address to listen on: an IP address or a host name (whether it resolves is seen at listen). */
  host(name: string, fallback: string): string {
    const value = this.string(name, fallback);
    if (isIP(value) === 0 && !HOST_NAME.test(value)) throw this.invalid(name, value, 'must be an IP address or a host name');
    return value;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    if (!/^-?\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw this.invalid(name, raw, `must be an integer from ${min} to ${max}`);
    }
    return Number(raw);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    if (!allowed.includes(raw as T)) throw this.invalid(name, raw, `must be one of ${allowed.join(', ')}`);
    return raw as T;
  }

  httpUrl(name: string, fallback: string): string {
    return this.optionalHttpUrl(name) ?? fallback;
  }

  optionalHttpUrl(name: string): string | undefined {
    return this.url(name, ['http:', 'https:']);
  }

  databaseUrl(name: string): string | undefined {
    return this.url(name, ['postgres:', 'postgresql:']);
  }

  redisUrl(name: string): string | undefined {
    return this.url(name, ['redis:', 'rediss:']);
  }

  secret(name: string, minLength: number): string | undefined {
    const raw = this.optional(name);
    if (raw !== undefined && raw.length < minLength) {
      throw new ConfigError(`${name}: must be at least ${minLength} characters long`);
    }
    return raw;
  }

  cron(name: string, fallback: string): string {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    if (!isValidCron(raw)) throw this.invalid(name, raw, 'must be a cron expression such as "*/5 * * * *"');
    return raw;
  }

  private url(name: string, protocols: string[]): string | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw this.invalid(name, raw, `must be a URL (${protocols.join(' or ')})`);
    }
    if (!protocols.includes(url.protocol)) throw this.invalid(name, raw, `must use ${protocols.join(' or ')}`);
    return raw.replace(/\/+$/, '');
  }

  // The value is echoed only for variables that hold no secret; URLs may carry passwords.
  private invalid(name: string, raw: string, rule: string): ConfigError {
    const shown = /URL$/.test(name) ? '' : ` (got "${raw}")`;
    return new ConfigError(`${name}: ${rule}${shown}`);
  }
}
