import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { SQL } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe } from 'vitest';
import { openDatabase, type Database, type Db, type OpenDatabaseOptions } from '../../src/db/client.js';
import { defaultMigrationsFolder, migrateUp } from '../../src/db/migrate.js';

/**
 * Runs a suite against every database the gateway supports: embedded PGlite (in a fresh temp
 * dir) always, and PostgreSQL when TEST_DATABASE_URL is set, in a new schema per suite, so test
 * files never see each other's rows. Without the URL the PostgreSQL variant is reported as
 * skipped, with a title that says how to run it, rather than vanishing.
 */

export type DatabaseKind = Database['kind'];

export interface DatabaseUnderTest {
  readonly kind: DatabaseKind;
  /** The suite's database; valid inside tests and hooks (it is opened in beforeAll). */
  readonly database: Database;
  readonly db: Db;
  /**
   * Another pool on the same database and schema (a second replica), closed after the suite.
   * PostgreSQL only: a PGlite folder has one owner.
   */
  connect(): Promise<Database>;
}

export interface DatabaseSuiteOptions {
  /** Apply the migrations before the suite (default true); false leaves an empty schema. */
  readonly migrated?: boolean;
}

export function forEachDatabase(
  name: string,
  fn: (t: DatabaseUnderTest) => void,
  options: DatabaseSuiteOptions = {},
): void {
  describe(`${name} [pglite]`, () => fn(useDatabase('pglite', options)));
  const url = process.env.TEST_DATABASE_URL;
  const title = url ? `${name} [postgres]` : `${name} [postgres] (set TEST_DATABASE_URL to run)`;
  describe.skipIf(!url)(title, () => fn(useDatabase('postgres', options)));
}

/** Rows of a raw query: postgres-js answers an array, PGlite an object with `rows`. */
export async function rowsOf<T>(db: Db, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown;
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

export interface TestDatabase {
  readonly database: Database;
  /** How to open another pool on it (PostgreSQL; a PGlite folder has one owner). */
  readonly options: OpenDatabaseOptions;
  /** Closes it and throws it away. */
  close(): Promise<void>;
}

/**
 * A fresh, migrated database of the given kind (PostgreSQL when TEST_DATABASE_URL is set, by
 * default): a copied PGlite template, or a new schema on PostgreSQL.
 */
export async function openTestDatabase(
  kind: DatabaseKind = process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite',
  { migrated = true }: DatabaseSuiteOptions = {},
): Promise<TestDatabase> {
  let options: OpenDatabaseOptions;
  let cleanup: () => Promise<void>;
  if (kind === 'pglite') {
    const dataDir = await freshPgliteDir(migrated);
    options = { dataDir };
    cleanup = async () => rmSync(dirname(dataDir), { recursive: true, force: true });
  } else {
    const url = process.env.TEST_DATABASE_URL!;
    const schema = `t_${randomBytes(6).toString('hex')}`;
    await adminQuery(url, `create schema "${schema}"`);
    options = { databaseUrl: url, dataDir: '', searchPath: schema };
    cleanup = () => adminQuery(url, `drop schema "${schema}" cascade`);
  }
  const database = await openDatabase(options);
  // A no-op on a PGlite copied from the migrated template; the real thing on PostgreSQL.
  if (migrated) await migrateUp(database);
  return {
    database,
    options,
    async close() {
      await database.close();
      await cleanup();
    },
  };
}

function useDatabase(kind: DatabaseKind, options: DatabaseSuiteOptions): DatabaseUnderTest {
  let main: TestDatabase | undefined;
  const others: Database[] = [];

  beforeAll(async () => {
    main = await openTestDatabase(kind, options);
  });

  afterAll(async () => {
    await Promise.all(others.map((database) => database.close()));
    await main?.close();
  });

  return {
    kind,
    get database() {
      return main!.database;
    },
    get db() {
      return main!.database.db;
    },
    async connect() {
      if (kind !== 'postgres') throw new Error('connect() needs PostgreSQL: a PGlite folder has one owner');
      const another = await openDatabase(main!.options);
      others.push(another);
      return another;
    },
  };
}

async function adminQuery(url: string, statement: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(statement);
  } finally {
    await sql.end();
  }
}

/**
 * A new PGlite folder costs seconds (initdb, then the migrations); a copy of a prepared, closed
 * one costs a fraction of that. Templates are kept in the system temp dir, named after the PGlite
 * version and the migration files they hold, so a change to either builds new ones.
 */
export async function freshPgliteDir(migrated: boolean): Promise<string> {
  const template = await pgliteTemplate(migrated);
  const dataDir = join(mkdtempSync(join(tmpdir(), 'budget-gateway-test-')), 'data');
  cpSync(template, dataDir, { recursive: true });
  return dataDir;
}

async function pgliteTemplate(migrated: boolean): Promise<string> {
  const empty = await publishOnce(`budget-gateway-pglite-${pgliteVersion()}`, async (dir) => {
    await (await PGlite.create(dir)).close();
  });
  if (!migrated) return empty;
  return publishOnce(`${basename(empty)}-${migrationsDigest()}`, async (dir) => {
    cpSync(empty, dir, { recursive: true });
    const database = await openDatabase({ dataDir: dir });
    await migrateUp(database);
    await database.close();
  });
}

/**
 * Builds the folder `name` in the temp dir once: aside, then renamed into place (atomic), so
 * parallel workers never see half of one.
 */
async function publishOnce(name: string, build: (dir: string) => Promise<void>): Promise<string> {
  const target = join(tmpdir(), name);
  if (existsSync(target)) return target;
  const building = mkdtempSync(`${target}-building-`);
  try {
    await build(join(building, 'data'));
    renameSync(join(building, 'data'), target);
  } catch (err) {
    // Losing the race to another worker is fine: theirs is as good as ours.
    if (!existsSync(target)) throw err;
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return target;
}

function pgliteVersion(): string {
  const manifest = new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

function migrationsDigest(): string {
  const folder = defaultMigrationsFolder();
  const hash = createHash('sha256');
  for (const file of readdirSync(folder, { recursive: true, encoding: 'utf8' }).sort()) {
    const path = join(folder, file);
    if (statSync(path).isFile() && /\.(sql|json)$/.test(file)) hash.update(file).update(readFileSync(path));
  }
  return hash.digest('hex').slice(0, 12);
}
