import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inArray, sql } from 'drizzle-orm';
import { pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import type { Database, Db } from './client.js';
import { driverError } from './errors.js';

/**
 * Applies drizzle-kit's migration folder (`meta/_journal.json`, `<tag>.sql` split on
 * statement breakpoints) and our hand-written `down/<tag>.sql`. Ours rather than drizzle's
 * migrator because every replica runs it at start: one transaction behind an advisory lock makes
 * concurrent starts serialize, and the later ones find nothing to do. It logs nothing; callers
 * log the tags it returns.
 */

// Any fixed bigint works, as long as every replica uses the same one.
const MIGRATION_LOCK = '7316925810423194113';

const appliedMigrations = pgTable('budget_gateway_migrations', {
  tag: text('tag').primaryKey(),
  appliedAt: timestamp('applied_at', { withTimezone: true }).defaultNow(),
});

/** Applies the pending migrations (all, or the oldest `steps`), in journal order; returns the tags applied. */
export async function migrateUp(
  database: Pick<Database, 'db'>,
  folder = defaultMigrationsFolder(),
  { steps }: { steps?: number } = {},
): Promise<string[]> {
  const tags = readJournal(folder);
  return database.db.transaction(async (tx) => {
    const done = await lockAndListApplied(tx);
    const pending = tags.filter((tag) => !done.has(tag)).slice(0, steps);
    for (const tag of pending) {
      await runScript(tx, tag, join(folder, `${tag}.sql`));
      await tx.insert(appliedMigrations).values({ tag });
    }
    return pending;
  });
}

/** Reverts the newest `steps` applied migrations with their down scripts; returns the tags reverted. */
export async function migrateDown(
  database: Pick<Database, 'db'>,
  { steps }: { steps: number },
  folder = defaultMigrationsFolder(),
): Promise<string[]> {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer (got ${steps})`);
  const tags = readJournal(folder);
  return database.db.transaction(async (tx) => {
    const done = await lockAndListApplied(tx);
    const unknown = [...done].filter((tag) => !tags.includes(tag));
    // Reverting older migrations beneath a newer one we have no script for would corrupt the schema.
    if (unknown.length > 0) throw new Error(`applied migrations missing from ${folder}: ${unknown.join(', ')}`);
    const reverting = tags.filter((tag) => done.has(tag)).reverse().slice(0, steps);
    for (const tag of reverting) await runScript(tx, tag, join(folder, 'down', `${tag}.sql`));
    if (reverting.length > 0) await tx.delete(appliedMigrations).where(inArray(appliedMigrations.tag, reverting));
    return reverting;
  });
}

/** The repository's `drizzle/` folder, found from this file in `src/db/` or `dist/src/db/` alike. */
export function defaultMigrationsFolder(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the package root (no package.json above src/db)');
    dir = parent;
  }
  return join(dir, 'drizzle');
}

async function lockAndListApplied(tx: Db): Promise<Set<string>> {
  await tx.execute(sql.raw(`select pg_advisory_xact_lock(${MIGRATION_LOCK})`));
  await tx.execute(
    sql`create table if not exists budget_gateway_migrations
        (tag text primary key, applied_at timestamptz default now())`,
  );
  const rows = await tx.select({ tag: appliedMigrations.tag }).from(appliedMigrations);
  return new Set(rows.map((row) => row.tag));
}

async function runScript(tx: Db, tag: string, path: string): Promise<void> {
  for (const statement of readStatements(path)) {
    try {
      await tx.execute(sql.raw(statement));
    } catch (err) {
      throw new Error(`migration ${tag} failed in ${path}: ${(driverError(err) as Error).message}`, { cause: err });
    }
  }
}

function readJournal(folder: string): string[] {
  const journal = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as {
    entries: { idx: number; tag: string }[];
  };
  return [...journal.entries].sort((a, b) => a.idx - b.idx).map((entry) => entry.tag);
}

function readStatements(path: string): string[] {
  return (
    readFileSync(path, 'utf8')
      .split('--> statement-breakpoint')
      // drizzle-kit qualifies foreign-key targets with "public"; our migrations are relative to
      // the search_path, so a database (or a test) that lives in another schema gets them too.
      .map((statement) => statement.replaceAll('"public".', '').trim())
      .filter((statement) => statement !== '')
  );
}
