// Benchmark: what a usage ledger row costs the database, written as the gateway writes it
// (usage events from `encodeUsage`, 500 to a batch, through `writeLedgerEvents`: COPY in binary
// format, into the embedded PGlite or PostgreSQL), into a table made by the migrations. Variants of the schema and the ids side by side, in interleaved rounds, each in a
// fresh database: the current one, random (version 4) request ids instead of version 7, and the
// ledger's indexes before migration 0003, and both. Reports the database's CPU per row (PGlite's thread;
// PostgreSQL's processes) and its WAL per row. Writes bench/results/ledger-rows-<date>.{json,md}.
// Usage: npm run bench:ledger -- [--rows 300000] [--rounds 3] [--databases pglite,postgres] [--variants current,random-ids,two-indexes,before]
// See bench/README.md.

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { openDatabase, type Database } from '../src/db/client.js';
import { writeLedgerEvents } from '../src/db/ledger.js';
import { migrateUp } from '../src/db/migrate.js';
import { encodeUsage } from '../src/ledger/usage-event.js';
import { newRequestId } from '../src/proxy/request-id.js';
import { CpuWindow, STORE_PROCESSES, ThreadWindow, pidsNamed } from './lib/cpu.js';
import { Cleanups, DEFAULT_DATABASE_URL, redact } from './lib/fixtures.js';
import { runScript, UsageError } from './lib/options.js';
import { writeResults } from './lib/report.js';
import { spread } from './lib/stats.js';
import { cell, fixed, table, whole } from './lib/tables.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
/** About what the gateway's ledger gathers in one 100 ms tick at the bench's c=64 rates. */
const BATCH = 500;
/** The simulated traffic: rows per second of clock (the ids' and `created_at`'s time). */
const ROWS_PER_SECOND = 8_000;
const TENANTS = 100;
const KEYS_PER_TENANT = 3;

const DATABASES = ['pglite', 'postgres'] as const;
type DatabaseKind = (typeof DATABASES)[number];

interface Variant {
  readonly describe: string;
  /** Migrations to apply, from the first (all when undefined). */
  readonly migrations?: number;
  readonly requestId: (nowMs: number) => string;
}

const VARIANTS = {
  current: { describe: 'as the gateway is: version 7 ids, three ledger indexes', requestId: newRequestId },
  'random-ids': { describe: 'random (version 4) request ids, as before 3cebe24', requestId: () => randomUUID() },
  'two-indexes': { describe: 'the ledger indexes before migration 0003 (by tenant and by key)', migrations: 3, requestId: newRequestId },
  before: { describe: 'both: random ids and the indexes before 0003, the ledger as it was before either change', migrations: 3, requestId: () => randomUUID() },
} satisfies Record<string, Variant>;
type VariantName = keyof typeof VARIANTS;

function readOptions() {
  const { values } = parseArgs({
    options: { rows: { type: 'string' }, rounds: { type: 'string' }, databases: { type: 'string' }, variants: { type: 'string' } },
    strict: true,
  });
  const rows = Number(values.rows ?? 300_000);
  const rounds = Number(values.rounds ?? 3);
  if (!Number.isInteger(rows) || rows < BATCH) throw new UsageError(`--rows=${values.rows}: expected an integer of at least ${BATCH}`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new UsageError(`--rounds=${values.rounds}: expected an integer of at least 1`);
  const list = <T extends string>(name: string, raw: string | undefined, known: readonly T[]): T[] => {
    const picked = (raw ?? known.join(',')).split(',').map((s) => s.trim());
    const unknown = picked.filter((p) => !known.includes(p as T));
    if (unknown.length > 0 || picked.length === 0) throw new UsageError(`--${name}=${raw}: expected some of ${known.join(',')}`);
    return picked as T[];
  };
  return {
    rows,
    rounds,
    databases: list('databases', values.databases, DATABASES),
    variants: list('variants', values.variants, Object.keys(VARIANTS) as VariantName[]),
  };
}

interface Measurement {
  round: number;
  database: DatabaseKind;
  variant: VariantName;
  rows: number;
  /** The database's CPU per row written: PGlite's thread, or PostgreSQL's processes. */
  cpuUs: number;
  walBytes: number;
  seconds: number;
}

const databaseUrl = process.env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
const cleanups = new Cleanups();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n[bench:ledger] ${signal}: cleaning up`);
    void cleanups.runAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

/**
 * A fresh database of `kind` with the variant's migrations; `drop` throws it away. Dropping is
 * registered with the cleanups first, so an interrupt or a failed set-up leaves nothing behind.
 */
async function freshDatabase(kind: DatabaseKind, variant: Variant, admin: postgres.Sql | undefined): Promise<{ database: Database; drop: () => Promise<void> }> {
  const dir = kind === 'pglite' ? mkdtempSync(join(tmpdir(), 'bench-ledger-')) : undefined;
  const schema = `bench_ledger_${randomBytes(4).toString('hex')}`;
  let database: Database | undefined;
  let dropped: Promise<void> | undefined;
  const drop = (): Promise<void> =>
    (dropped ??= (async () => {
      await database?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
      else await admin!.unsafe(`drop schema if exists "${schema}" cascade`);
    })());
  cleanups.add(`drop the ${kind} database of a measurement`, drop);
  if (dir !== undefined) {
    database = await openDatabase({ dataDir: join(dir, 'data') });
    // Its thread at idle class, as the gateway runs it: that is how the thread is told apart.
    await database.runAsBackground!();
  } else {
    await admin!.unsafe(`create schema "${schema}"`);
    // One connection: one backend does the writing, as one ledger consumer's does.
    database = await openDatabase({ databaseUrl, dataDir: '', searchPath: schema, poolSize: 1 });
  }
  await migrateUp(database, undefined, variant.migrations === undefined ? {} : { steps: variant.migrations });
  return { database, drop };
}

async function walPosition(database: Database): Promise<bigint> {
  const result = (await database.db.execute(sql`select (pg_current_wal_lsn() - '0/0'::pg_lsn)::text as at`)) as unknown;
  const rows = Array.isArray(result) ? result : (result as { rows: unknown[] }).rows;
  return BigInt((rows[0] as { at: string }).at);
}

/** The events of one batch: tenants and keys in turn, the clock at ROWS_PER_SECOND. */
function batchOf(first: number, variant: Variant, startMs: number): string[] {
  const events: string[] = [];
  for (let n = first; n < first + BATCH; n++) {
    const nowMs = startMs + Math.floor((n * 1000) / ROWS_PER_SECOND);
    const tenant = n % TENANTS;
    events.push(
      encodeUsage({
        requestId: variant.requestId(nowMs),
        clientRequestId: null,
        tenantId: `tenant-${tenant}`,
        keyId: `key-${tenant}-${n % KEYS_PER_TENANT}`,
        model: 'gpt-4o-mini',
        endpoint: 'chat/completions',
        status: 200,
        promptTokens: 120 + (n % 50),
        completionTokens: 40 + (n % 20),
        costMicros: 1_234 + (n % 100),
        costSource: 'response_header',
        periodStartedAtMs: Date.UTC(2026, 10, 1),
        createdAtMs: nowMs,
      }),
    );
  }
  return events;
}

async function measure(round: number, kind: DatabaseKind, name: VariantName, rows: number, admin: postgres.Sql | undefined): Promise<Measurement> {
  const variant = VARIANTS[name];
  const { database, drop } = await freshDatabase(kind, variant, admin);
  try {
    const threads = new ThreadWindow(process.pid);
    const stores = new CpuWindow({ postgres: pidsNamed(STORE_PROCESSES.filter((p) => p === 'postgres')) });
    const wal = await walPosition(database);
    const startMs = Date.now();
    const started = performance.now();
    threads.start();
    stores.start();
    let written = 0;
    for (let n = 0; n < rows; n += BATCH) written += await writeLedgerEvents(database, batchOf(n, variant, startMs));
    threads.end();
    stores.end();
    const seconds = (performance.now() - started) / 1000;
    // Whole batches: `rows` rounded up to one.
    if (written !== Math.ceil(rows / BATCH) * BATCH) throw new Error(`${kind} ${name}: wrote ${written} rows, not ${rows}`);
    const cpuUs = kind === 'pglite' ? threads.perRequest(written).idle : stores.perRequest('postgres', written)!;
    const walBytes = Number((await walPosition(database)) - wal) / written;
    return { round, database: kind, variant: name, rows: written, cpuUs, walBytes, seconds };
  } finally {
    await drop();
  }
}

async function main(): Promise<void> {
  const options = readOptions();
  let admin: postgres.Sql | undefined;
  if (options.databases.includes('postgres')) {
    admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    cleanups.add('close the admin connection', () => admin!.end({ timeout: 5 }));
    await admin`select 1`;
  }
  console.log(
    `[bench:ledger] ${options.rows} rows in batches of ${BATCH}, ${options.rounds} round${options.rounds === 1 ? '' : 's'}, order rotating; ` +
      `databases: ${options.databases.join(', ')}${admin ? ` (PostgreSQL at ${redact(databaseUrl)})` : ''}; variants: ${options.variants.join(', ')}`,
  );
  const all: Measurement[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const kind of options.databases) {
      const order = options.variants.map((_, i) => options.variants[(i + round - 1) % options.variants.length]!);
      for (const name of order) {
        const m = await measure(round, kind, name, options.rows, admin);
        all.push(m);
        console.log(`[bench:ledger] round ${round} ${kind} ${name}: ${m.cpuUs.toFixed(1)} µs of CPU per row, ${Math.round(m.walBytes)} bytes of WAL per row, ${Math.round(m.rows / m.seconds)} rows/s`);
      }
    }
  }

  const now = new Date();
  const date = now.toISOString().slice(0, 10);
  const cpu = cpus();
  const environment = { node: process.version, platform: `${process.platform}-${process.arch}`, cpuModel: cpu[0]?.model ?? 'unknown', cores: cpu.length };
  const body: string[][] = [];
  for (const kind of options.databases) {
    const of = (name: VariantName) => all.filter((m) => m.database === kind && m.variant === name);
    const current = of('current');
    for (const name of options.variants) {
      const ms = of(name);
      // Against `current` in the same round: the machine's drift hits both alike.
      const ratios = ms.map((m) => {
        const base = current.find((c) => c.round === m.round);
        return base === undefined ? null : m.cpuUs / base.cpuUs;
      });
      body.push([
        kind,
        name,
        cell(spread(ms.map((m) => m.cpuUs)), fixed(1)),
        name === 'current' ? '1' : cell(spread(ratios), fixed(3)),
        cell(spread(ms.map((m) => m.walBytes)), whole),
        cell(spread(ms.map((m) => m.rows / m.seconds)), whole),
      ]);
    }
  }
  const md =
    `# budget-gateway ledger rows bench ${date}\n\n` +
    `node ${environment.node}, ${environment.cpuModel}, ${environment.cores} cores. ${options.rows} rows per database and variant, ` +
    `in batches of ${BATCH} through \`writeLedgerEvents\`, ${options.rounds} round${options.rounds === 1 ? '' : 's'}; each cell the median (min–max) over the rounds. ` +
    `CPU: PGlite's thread (the JSON turned into COPY's bytes, and COPY), or every PostgreSQL process (the backend, the WAL writer, the checkpointer).\n\n` +
    options.variants.map((name) => `- \`${name}\`: ${VARIANTS[name].describe}`).join('\n') +
    '\n\n' +
    table(['database', 'variant', 'CPU µs/row', '÷ current', 'WAL bytes/row', 'rows/s'], body, 2);
  const files = await writeResults(RESULTS_DIR, `ledger-rows-${date}`, { date: now.toISOString(), ...environment, options, batch: BATCH, measurements: all }, md);
  console.log(`\n${md}\n\n[bench:ledger] wrote ${files.map((f) => f.slice(ROOT.length)).join(', ')}`);
}

await runScript('bench:ledger', main, () => cleanups.runAll());
