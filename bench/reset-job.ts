// Benchmark: the budget reset job (src/jobs/budget-reset.ts) over many due tenants in PostgreSQL,
// in a throwaway schema. Times one run of the job as the scheduler would start it, checks that
// every tenant was reset exactly once, and writes bench/results/reset-job-<date>.{json,md}.
// Usage: npm run bench:reset -- [--tenants 100000] [--batch-size 5000] [--concurrency 2] [--no-litellm]
// See bench/README.md.

import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sql, type SQL } from 'drizzle-orm';
import postgres from 'postgres';
import { openDatabase, type Database } from '../src/db/client.js';
import { migrateUp } from '../src/db/migrate.js';
import { DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, resetDueTenants } from '../src/jobs/budget-reset.js';
import { createLogger } from '../src/logger.js';
import { MemorySpendStore } from '../src/store/memory.js';
import { Cleanups, DEFAULT_DATABASE_URL, redact } from './lib/fixtures.js';
import { runScript, UsageError } from './lib/options.js';
import { writeResults } from './lib/report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const TARGET_MS = 5_000;
const DAY_MS = 86_400_000;

function readOptions() {
  const { values } = parseArgs({
    options: {
      tenants: { type: 'string' },
      'batch-size': { type: 'string' },
      concurrency: { type: 'string' },
      'no-litellm': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const positive = (name: string, raw: string | undefined, fallback: number): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name}=${JSON.stringify(raw)}: expected an integer >= 1`);
    return n;
  };
  return {
    tenants: positive('tenants', values.tenants, 100_000),
    batchSize: positive('batch-size', values['batch-size'], DEFAULT_BATCH_SIZE),
    concurrency: positive('concurrency', values.concurrency, DEFAULT_CONCURRENCY),
    litellmSync: !values['no-litellm'],
  };
}

const databaseUrl = process.env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
const schema = `bench_reset_${randomBytes(4).toString('hex')}`;
const cleanups = new Cleanups();

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n[bench:reset] ${signal}: dropping schema ${schema}`);
    void cleanups.runAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

async function count(database: Database, query: SQL): Promise<number> {
  const result = (await database.db.execute(query)) as unknown as { n: number }[];
  return result[0]!.n;
}

async function main(): Promise<number> {
  const options = readOptions();
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  cleanups.add('close the admin connection', () => admin.end({ timeout: 5 }));
  await admin.unsafe(`create schema "${schema}"`);
  cleanups.add(`drop schema ${schema}`, async () => void (await admin.unsafe(`drop schema "${schema}" cascade`)));
  const database = await openDatabase({ databaseUrl, dataDir: '', searchPath: schema });
  cleanups.add('close the database', () => database.close());
  await migrateUp(database);
  const [{ version }] = (await admin`select current_setting('server_version') as version`) as unknown as [{ version: string }];
  console.log(`[bench:reset] PostgreSQL ${version} at ${redact(databaseUrl)}, schema ${schema}`);

  const resetAt = Date.UTC(2026, 10, 22);
  console.log(`[bench:reset] inserting ${options.tenants} tenants due at ${new Date(resetAt).toISOString()} (daily periods)...`);
  const inserting = performance.now();
  await database.db.execute(sql`insert into tenants (tenant_id, max_budget_micros, budget_duration, period_started_at, budget_reset_at, period_anchor_at)
    select 'bench-' || n, 100000000, '1d', ${new Date(resetAt - DAY_MS).toISOString()}::timestamptz,
      ${new Date(resetAt).toISOString()}::timestamptz, ${new Date(resetAt).toISOString()}::timestamptz
    from generate_series(1, ${options.tenants}::int) as n`);
  // As autovacuum would have it on a table that has been around for a while.
  await database.db.execute(sql`analyze tenants`);
  const insertMs = performance.now() - inserting;

  const litellm = options.litellmSync ? 'on' : 'off';
  console.log(`[bench:reset] running the reset job (LiteLLM sync ${litellm}, in-process spend store: old_spend from the ledger)...`);
  const deps = {
    db: database.db,
    store: new MemorySpendStore(() => {}, Date.now),
    logger: createLogger('warn'),
    litellmSync: options.litellmSync,
    batchSize: options.batchSize,
    concurrency: options.concurrency,
  };
  const started = performance.now();
  const summary = await resetDueTenants(deps, resetAt + 60_000);
  const elapsedMs = performance.now() - started;

  const rolled = await count(database, sql`select count(*)::int as n from tenants where period_started_at = ${new Date(resetAt).toISOString()}::timestamptz`);
  const audits = await count(database, sql`select count(distinct tenant_id)::int as n from audit_log where event = 'budget_reset'`);
  const outbox = await count(database, sql`select count(*)::int as n from notification_outbox`);
  const expectedOutbox = options.tenants * (options.litellmSync ? 2 : 1);
  const correct = summary.reset === options.tenants && rolled === options.tenants && audits === options.tenants && outbox === expectedOutbox;
  const perSecond = Math.round(options.tenants / (elapsedMs / 1000));
  const withinTarget = elapsedMs < TARGET_MS;
  console.log(
    `[bench:reset] ${options.tenants} tenants reset in ${Math.round(elapsedMs)} ms (${perSecond} tenants/s, ${String(summary.batches)} batches); ` +
      `target < ${TARGET_MS} ms: ${withinTarget ? 'met' : 'MISSED'}; rows: ${rolled} periods, ${audits} audit entries, ${outbox} outbox rows ` +
      `${correct ? '(each tenant once)' : '(WRONG)'}`,
  );

  const now = new Date();
  const date = now.toISOString().slice(0, 10);
  const cpu = cpus();
  const environment = { node: process.version, platform: `${process.platform}-${process.arch}`, cpuModel: cpu[0]?.model ?? 'unknown', cores: cpu.length };
  const md =
    `# budget-gateway reset job bench ${date}\n\n` +
    `node ${environment.node}, ${environment.cpuModel}, ${environment.cores} cores, PostgreSQL ${version} on the same machine; ` +
    `LiteLLM sync ${litellm}; in-process spend store (every old_spend read from the ledger).\n\n` +
    `| due tenants | batch size | concurrency | batches | reset ms | tenants/s | target | correct |\n` +
    `| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n` +
    `| ${options.tenants} | ${options.batchSize} | ${options.concurrency} | ${String(summary.batches)} | ` +
    `${Math.round(elapsedMs)} | ${perSecond} | < ${TARGET_MS} ms: ${withinTarget ? 'met' : 'missed'} | ${correct ? 'yes' : 'NO'} |`;
  const files = await writeResults(RESULTS_DIR, `reset-job-${date}`, {
    date: now.toISOString(),
    ...environment,
    postgres: version,
    options,
    insertMs,
    elapsedMs,
    tenantsPerSecond: perSecond,
    summary,
    rows: { periods: rolled, auditEntries: audits, outbox },
    targetMs: TARGET_MS,
    withinTarget,
    correct,
  }, md);
  console.log(`[bench:reset] wrote ${files.map((f) => f.slice(ROOT.length)).join(', ')}`);
  return correct ? 0 : 1;
}

await runScript('bench:reset', main, () => cleanups.runAll());
