// Deployment files are checked by parsing them: there is no Docker engine in CI, so the
// Dockerfile, the compose stack and the configs they mount must be right by construction.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { AS_SHIPPED_ENV } from '../../bench/lib/as-shipped.js';
import { LITELLM_ALERTS_PATH } from '../../src/alerts/routes.js';

const root = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');
const exists = (path: string): boolean => existsSync(new URL(path, root));

/** CONTRACT §1: the only variables the gateway reads. */
const CONTRACT_ENV = new Set([
  'PORT', 'HOST', 'LITELLM_BASE_URL', 'LITELLM_MASTER_KEY', 'LITELLM_API_KEY', 'DATABASE_URL',
  'DATA_DIR', 'REDIS_URL', 'ADMIN_API_KEY', 'BUDGET_FAIL_MODE', 'CONFIG_FILE', 'RESET_CRON',
  'OVERRIDE_EXPIRY_CRON', 'NOTIFY_WEBHOOK_URL', 'NOTIFY_WEBHOOK_SECRET', 'NOTIFY_SLACK_WEBHOOK_URL',
  'LITELLM_WEBHOOK_SECRET', 'LOG_LEVEL',
]);

// ---------- Dockerfile ----------

interface Instruction { keyword: string; args: string }

/** Joins `\` continuations, drops comments and parser directives, splits keyword from args. */
function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  if (pending !== '') logical.push(pending);
  return logical.map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
  });
}

/** Splits on whitespace outside double quotes, removing the quotes. */
function shellWords(args: string): string[] {
  return [...args.matchAll(/(?:[^\s"]+|"[^"]*")+/g)].map((m) => m[0].replace(/"/g, ''));
}

/** `ENV A=1 B="x y"` and the legacy `ENV A 1` form. */
function envOf(stage: Instruction[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const { keyword, args } of stage) {
    if (keyword !== 'ENV') continue;
    const words = shellWords(args);
    if (words.length > 0 && !words[0]!.includes('=')) {
      env.set(words[0]!, words.slice(1).join(' '));
      continue;
    }
    for (const word of words) {
      const eq = word.indexOf('=');
      env.set(word.slice(0, eq), word.slice(eq + 1));
    }
  }
  return env;
}

/** The command of an exec-form (JSON array) or shell-form instruction, as words. */
function commandWords(args: string): string[] {
  const trimmed = args.trim();
  if (trimmed.startsWith('[')) return JSON.parse(trimmed) as string[];
  return shellWords(trimmed);
}

describe('Dockerfile', () => {
  const instructions = parseDockerfile(read('Dockerfile'));
  const fromIndexes = instructions.flatMap((ins, i) => (ins.keyword === 'FROM' ? [i] : []));
  const finalStage = instructions.slice(fromIndexes.at(-1) ?? 0);
  const finalOf = (keyword: string) => finalStage.filter((ins) => ins.keyword === keyword);

  it('has at least two FROM stages, each on node:24-slim', () => {
    expect(fromIndexes.length).toBeGreaterThanOrEqual(2);
    for (const i of fromIndexes) {
      const image = shellWords(instructions[i]!.args).find((w) => !w.startsWith('--'));
      expect(image).toMatch(/^node:24-slim(@sha256:[0-9a-f]{64})?$/);
    }
  });

  it('final stage runs as a non-root USER', () => {
    const users = finalOf('USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.args.trim().split(':')[0];
    expect(user).not.toBe('');
    expect(['root', '0']).not.toContain(user);
  });

  it('final stage ENV sets HOST=0.0.0.0 and PORT=8080', () => {
    const env = envOf(finalStage);
    expect(env.get('HOST')).toBe('0.0.0.0');
    expect(env.get('PORT')).toBe('8080');
  });

  it('final stage ENV holds the runtime settings the bench measures the gateway with', () => {
    const env = envOf(finalStage);
    expect(Object.keys(AS_SHIPPED_ENV)).toContain('MALLOC_ARENA_MAX');
    for (const [name, value] of Object.entries(AS_SHIPPED_ENV)) expect([name, env.get(name)]).toEqual([name, value]);
  });

  it('final stage HEALTHCHECK command probes /healthz', () => {
    const checks = finalOf('HEALTHCHECK');
    expect(checks).toHaveLength(1);
    const args = checks[0]!.args;
    const cmdAt = args.search(/\bCMD\b/);
    expect(cmdAt).toBeGreaterThanOrEqual(0);
    expect(commandWords(args.slice(cmdAt + 3)).join(' ')).toContain('/healthz');
  });

  it('final stage EXPOSEs 8080', () => {
    const ports = finalOf('EXPOSE').flatMap((ins) => shellWords(ins.args));
    expect(ports.map((p) => p.replace(/\/tcp$/, ''))).toContain('8080');
  });

  it('final stage CMD runs dist/src/server.js with node', () => {
    const cmds = finalOf('CMD');
    expect(cmds.length).toBeGreaterThan(0);
    const words = commandWords(cmds.at(-1)!.args);
    expect(words[0]).toBe('node');
    expect(words).toContain('dist/src/server.js');
  });

  it('final stage copies dist/, drizzle/ and config/', () => {
    const copied = finalOf('COPY').map((ins) => shellWords(ins.args).filter((w) => !w.startsWith('--')));
    const sources = copied.flatMap((words) => words.slice(0, -1).map((s) => s.replace(/\/$/, '')));
    expect(sources).toEqual(expect.arrayContaining(['/app/dist', 'drizzle', 'config']));
  });

  it('final stage puts the budget-gateway command (package.json bin) on PATH', () => {
    const sources = finalOf('COPY').flatMap((ins) => shellWords(ins.args).filter((w) => !w.startsWith('--')).slice(0, -1));
    expect(sources).toContain('bin');
    const bin = (JSON.parse(read('package.json')) as { bin: Record<string, string> }).bin['budget-gateway'];
    expect(finalOf('RUN').map((ins) => ins.args)).toContain(`ln -s /app/${bin} /usr/local/bin/budget-gateway`);
  });

  it('.dockerignore keeps node_modules, dist, data and .git out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', 'data', '.git']));
  });
});

// ---------- docker-compose.yml ----------

type Env = Record<string, string>;
interface Service {
  image?: string;
  command?: string[];
  build?: unknown;
  ports?: (string | { target: number; published?: string | number })[];
  expose?: (string | number)[];
  environment?: Env | string[];
  volumes?: (string | { source?: string; target: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string };
}

/** Compose interpolation of `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`. */
function interpolate(value: string, shell: Env): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}/g, (_, name: string, op?: string, arg?: string) => {
    const set = shell[name];
    if (op === ':-' && (set === undefined || set === '')) return arg ?? '';
    if (op === '-' && set === undefined) return arg ?? '';
    if (op?.endsWith('?') && (set === undefined || set === '')) throw new Error(`${name}: ${arg}`);
    return set ?? '';
  });
}

function environmentOf(service: Service, shell: Env): Env {
  const raw = service.environment ?? {};
  const entries = Array.isArray(raw)
    ? raw.map((item) => {
      const eq = item.indexOf('=');
      return [item.slice(0, eq), item.slice(eq + 1)] as const;
    })
    : Object.entries(raw);
  return Object.fromEntries(entries.map(([k, v]) => [k, interpolate(String(v ?? ''), shell)]));
}

function volumeSources(service: Service): Map<string, string> {
  const byTarget = new Map<string, string>();
  for (const volume of service.volumes ?? []) {
    if (typeof volume === 'string') {
      const [source = '', target = ''] = volume.split(':');
      byTarget.set(target, source);
    } else {
      byTarget.set(volume.target, volume.source ?? '');
    }
  }
  return byTarget;
}

function dependencies(service: Service): string[] {
  const deps = service.depends_on ?? [];
  return Array.isArray(deps) ? deps : Object.keys(deps);
}

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, Service>; version?: unknown };
  const services = compose.services;
  const service = (name: string): Service => {
    const found = services[name];
    if (!found) throw new Error(`no service ${name}`);
    return found;
  };
  // ADMIN_API_KEY uses ${...:?}: compose refuses to start without it, so the test supplies one.
  const shell: Env = { ADMIN_API_KEY: 'admin-test-key' };
  const gatewayEnv = environmentOf(service('gateway'), shell);
  const litellmEnv = environmentOf(service('litellm'), shell);

  it('uses the Compose spec (no top-level version)', () => {
    expect(compose.version).toBeUndefined();
  });

  it('defines services gateway, litellm, redis, postgres and prometheus', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['gateway', 'litellm', 'redis', 'postgres', 'prometheus']),
    );
  });

  it('gateway is built from this repo and publishes 8080', () => {
    expect(service('gateway').build).toBe('.');
    expect(service('gateway').ports?.map(String)).toContain('8080:8080');
  });

  it('gateway sets only CONTRACT §1 environment variables', () => {
    const names = Object.keys(gatewayEnv);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => !CONTRACT_ENV.has(name))).toEqual([]);
  });

  it('gateway refuses to start without ADMIN_API_KEY', () => {
    expect(() => environmentOf(service('gateway'), {})).toThrow(/ADMIN_API_KEY/);
  });

  it('gateway listens on 0.0.0.0:8080', () => {
    expect(gatewayEnv.HOST).toBe('0.0.0.0');
    expect(gatewayEnv.PORT).toBe('8080');
  });

  it('gateway LITELLM_BASE_URL points at the litellm service on port 4000', () => {
    const url = new URL(gatewayEnv.LITELLM_BASE_URL ?? '');
    expect(url.hostname).toBe('litellm');
    expect(url.port).toBe('4000');
    expect(service('litellm').command).toEqual(expect.arrayContaining(['--port', '4000']));
  });

  it('gateway DATABASE_URL host is the postgres service, REDIS_URL host the redis service', () => {
    const database = new URL(gatewayEnv.DATABASE_URL ?? '');
    expect(database.protocol).toMatch(/^postgres(ql)?:$/);
    expect(database.hostname).toBe('postgres');
    const pg = environmentOf(service('postgres'), shell);
    expect(database.username).toBe(pg.POSTGRES_USER);
    expect(database.password).toBe(pg.POSTGRES_PASSWORD);
    expect(database.pathname).toBe(`/${pg.POSTGRES_DB}`);
    const redis = new URL(gatewayEnv.REDIS_URL ?? '');
    expect(redis.protocol).toBe('redis:');
    expect(redis.hostname).toBe('redis');
  });

  it('gateway CONFIG_FILE is inside its mounted config folder and exists in the repo', () => {
    const mounts = volumeSources(service('gateway'));
    expect(mounts.get('/app/config')).toBe('./config');
    const file = gatewayEnv.CONFIG_FILE ?? '';
    expect(file.startsWith('/app/config/')).toBe(true);
    expect(exists(file.replace('/app/config/', 'config/'))).toBe(true);
  });

  it('gateway mirrors with the LiteLLM master key, and never sends it upstream as its credential', () => {
    expect(gatewayEnv.LITELLM_MASTER_KEY).toBe(litellmEnv.LITELLM_MASTER_KEY);
    const withMaster = environmentOf(service('gateway'), { ...shell, LITELLM_MASTER_KEY: 'sk-master-1234' });
    expect(withMaster.LITELLM_MASTER_KEY).toBe('sk-master-1234');
    expect(withMaster.LITELLM_API_KEY).toBe('');
    const withVirtual = environmentOf(service('gateway'), { ...shell, LITELLM_MASTER_KEY: 'sk-master-1234', LITELLM_API_KEY: 'sk-virtual-5678' });
    expect(withVirtual.LITELLM_API_KEY).toBe('sk-virtual-5678');
  });

  it('litellm config volume points at ./config/litellm-config.yaml, which exists', () => {
    const litellm = service('litellm');
    const command = litellm.command ?? [];
    const configPath = command[command.indexOf('--config') + 1];
    expect(configPath).toBeDefined();
    expect(volumeSources(litellm).get(configPath!)).toBe('./config/litellm-config.yaml');
    expect(exists('config/litellm-config.yaml')).toBe(true);
  });

  it('litellm WEBHOOK_URL targets gateway:8080/api/v1/budget-alerts with the shared token', () => {
    const url = new URL(litellmEnv.WEBHOOK_URL ?? '');
    expect(url.host).toBe('gateway:8080');
    expect(url.pathname).toBe('/api/v1/budget-alerts');
    expect(url.pathname).toBe(LITELLM_ALERTS_PATH);
    expect(url.searchParams.get('token')).toBe(gatewayEnv.LITELLM_WEBHOOK_SECRET);
    expect(gatewayEnv.LITELLM_WEBHOOK_SECRET).not.toBe('');
  });

  it('litellm WEBHOOK_URL token follows LITELLM_WEBHOOK_SECRET from the shell, like the gateway', () => {
    const secret = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const withSecret = { ...shell, LITELLM_WEBHOOK_SECRET: secret };
    expect(environmentOf(service('gateway'), withSecret).LITELLM_WEBHOOK_SECRET).toBe(secret);
    expect(new URL(environmentOf(service('litellm'), withSecret).WEBHOOK_URL ?? '').searchParams.get('token')).toBe(secret);
  });

  it('litellm does not publish ports to the host', () => {
    expect(service('litellm').ports ?? []).toEqual([]);
    expect((service('litellm').expose ?? []).map(String)).toContain('4000');
  });

  it('litellm database is its own, on the postgres service', () => {
    const url = new URL(litellmEnv.DATABASE_URL ?? '');
    expect(url.hostname).toBe('postgres');
    expect(url.pathname).toBe('/litellm');
    expect(read('config/postgres/init.sql')).toMatch(/CREATE DATABASE litellm\b/i);
    expect([...volumeSources(service('postgres')).entries()]).toContainEqual([
      expect.stringMatching(/^\/docker-entrypoint-initdb\.d\//),
      './config/postgres/init.sql',
    ]);
  });

  it('prometheus mounts ./config/prometheus.yml, which exists and scrapes gateway:8080/metrics', () => {
    const mounts = volumeSources(service('prometheus'));
    expect(mounts.get('/etc/prometheus/prometheus.yml')).toBe('./config/prometheus.yml');
    const config = parse(read('config/prometheus.yml')) as {
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    const gatewayJob = config.scrape_configs.find((job) =>
      job.static_configs.some((sc) => sc.targets.includes('gateway:8080')));
    expect(gatewayJob?.job_name).toBe('budget-gateway');
    expect(gatewayJob?.metrics_path ?? '/metrics').toBe('/metrics');
  });

  it('prometheus loads config/prometheus/alerts.yml through rule_files and its mount', () => {
    const mounts = [...volumeSources(service('prometheus'))];
    const config = parse(read('config/prometheus.yml')) as { rule_files?: string[] };
    const loaded = (config.rule_files ?? []).map((file) => {
      const mount = mounts.find(([target]) => file.startsWith(`${target}/`));
      return mount ? mount[1] + file.slice(mount[0].length) : file;
    });
    expect(loaded).toContain('./config/prometheus/alerts.yml');
    expect(exists('config/prometheus/alerts.yml')).toBe(true);
  });

  it('grafana provisions the prometheus service as datasource and config/grafana/budget-gateway.json as dashboard', () => {
    const grafana = service('grafana');
    expect(grafana.image).toMatch(/^grafana\/grafana:/);
    expect(dependencies(grafana)).toContain('prometheus');
    const mounts = volumeSources(grafana);
    expect(mounts.get('/etc/grafana/provisioning')).toBe('./config/grafana/provisioning');
    const { datasources } = parse(read('config/grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: { type: string; url: string; isDefault?: boolean }[];
    };
    const url = new URL(datasources.find((d) => d.type === 'prometheus')?.url ?? '');
    expect([url.hostname, url.port]).toEqual(['prometheus', '9090']);
    expect(service('prometheus').ports?.map(String)).toContain('9090:9090');
    const { providers } = parse(read('config/grafana/provisioning/dashboards/budget-gateway.yml')) as {
      providers: { type: string; options: { path: string } }[];
    };
    const folder = providers.find((p) => p.type === 'file')?.options.path;
    const dashboards = [...mounts].filter(([target]) => target.startsWith(`${folder}/`)).map(([, source]) => source);
    expect(dashboards).toEqual(['./config/grafana/budget-gateway.json']);
  });

  it('grafana lets anyone who reaches it view, on loopback only, and takes its admin password from the shell', () => {
    const grafana = service('grafana');
    const env = environmentOf(grafana, shell);
    expect(env).toMatchObject({ GF_AUTH_ANONYMOUS_ENABLED: 'true', GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer', GF_USERS_ALLOW_SIGN_UP: 'false' });
    expect(environmentOf(grafana, { ...shell, GRAFANA_ADMIN_PASSWORD: 's3cret-pass' }).GF_SECURITY_ADMIN_PASSWORD).toBe('s3cret-pass');
    expect(grafana.ports?.map(String)).toEqual(['127.0.0.1:3000:3000']);
    expect(volumeSources(grafana).get(env.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '')).toBe('./config/grafana/budget-gateway.json');
  });

  it('every depends_on names an existing service', () => {
    const names = new Set(Object.keys(services));
    const missing = Object.entries(services).flatMap(([name, svc]) =>
      dependencies(svc).filter((dep) => !names.has(dep)).map((dep) => `${name} -> ${dep}`));
    expect(missing).toEqual([]);
    expect(dependencies(service('gateway'))).toEqual(expect.arrayContaining(['postgres', 'redis', 'litellm']));
  });

  it('starts the gateway once its database, Redis and LiteLLM are healthy (its first price load reads LiteLLM)', () => {
    const deps = service('gateway').depends_on as Record<string, { condition: string }>;
    expect(Object.fromEntries(['postgres', 'redis', 'litellm'].map((dep) => [dep, deps[dep]?.condition]))).toEqual({
      postgres: 'service_healthy',
      redis: 'service_healthy',
      litellm: 'service_healthy',
    });
  });

  it('every service_healthy dependency has a healthcheck', () => {
    const unchecked = Object.values(services).flatMap((svc) => {
      const deps = svc.depends_on;
      if (!deps || Array.isArray(deps)) return [];
      return Object.entries(deps)
        .filter(([dep, { condition }]) => condition === 'service_healthy' && !services[dep]?.healthcheck?.test)
        .map(([dep]) => dep);
    });
    expect(unchecked).toEqual([]);
  });
});

// ---------- configs ----------

describe('config/litellm-config.yaml', () => {
  const config = parse(read('config/litellm-config.yaml')) as {
    model_list?: { model_name: string; litellm_params: { model: string; api_key?: string } }[];
    general_settings?: { alerting?: string[]; alert_types?: string[]; master_key?: string };
  };

  it('general_settings.alerting includes "webhook"', () => {
    expect(config.general_settings?.alerting).toContain('webhook');
  });

  it('general_settings.alert_types includes "budget_alerts" (LiteLLM sends no budget alert otherwise)', () => {
    expect(config.general_settings?.alert_types).toContain('budget_alerts');
  });

  it('general_settings.master_key is read from LITELLM_MASTER_KEY', () => {
    expect(config.general_settings?.master_key).toBe('os.environ/LITELLM_MASTER_KEY');
  });

  it('model_list serves gpt-4o-mini and text-embedding-3-small through openai/', () => {
    const models = new Map(config.model_list?.map((m) => [m.model_name, m.litellm_params.model]));
    expect(models.get('gpt-4o-mini')).toBe('openai/gpt-4o-mini');
    expect(models.get('text-embedding-3-small')).toBe('openai/text-embedding-3-small');
  });
});

describe('config/gateway.example.yaml', () => {
  const config = parse(read('config/gateway.example.yaml')) as {
    prices?: Record<string, { input_per_million: number; output_per_million: number }>;
    tenant_defaults?: Record<string, unknown>;
    tenants?: { tenant_id: string; max_budget: number }[];
  };

  it('prices map models to USD per million input and output tokens', () => {
    expect(config.prices?.['gpt-4o-mini']).toEqual({ input_per_million: 0.15, output_per_million: 0.6 });
    for (const price of Object.values(config.prices ?? {})) {
      expect(typeof price.input_per_million).toBe('number');
      expect(typeof price.output_per_million).toBe('number');
    }
  });

  it('tenant_defaults carry budget, thresholds and duration', () => {
    expect(config.tenant_defaults).toMatchObject({
      max_budget: 100, alert_threshold: 80, grace_threshold: 110, budget_duration: '30d',
    });
  });

  it('tenants is a list of tenants with an id and a budget', () => {
    expect(config.tenants).toEqual([expect.objectContaining({ tenant_id: 'acme', max_budget: 500 })]);
    for (const tenant of config.tenants ?? []) {
      expect(String((tenant as { budget_duration?: string }).budget_duration ?? '30d')).toMatch(/^[1-9][0-9]*(h|d|w|mo)$/);
    }
  });
});
