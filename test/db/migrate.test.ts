import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { sql } from 'drizzle-orm';
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import type { Db } from '../../src/db/client.js';
import { defaultMigrationsFolder, migrateDown, migrateUp } from '../../src/db/migrate.js';
import { forEachDatabase, rowsOf } from '../support/databases.js';

const MIGRATIONS = ['0000_init', '0001_operations', '0002_budget_scopes', '0003_ledger_index_merge', '0004_usage_set_aside'];

const TABLES = [
  'alert_history',
  'api_keys',
  'audit_log',
  'budget_gateway_migrations',
  'budget_overrides',
  'global_budget',
  'job_leases',
  'litellm_alerts',
  'notification_outbox',
  'tenants',
  'usage_ledger',
  'usage_set_aside',
];

async function tables(db: Db): Promise<string[]> {
  const rows = await rowsOf<{ table_name: string }>(
    db,
    sql`select table_name from information_schema.tables where table_schema = current_schema() order by table_name`,
  );
  return rows.map((row) => row.table_name);
}

/** Every column and index of the schema, as the catalogue describes them. */
async function shape(db: Db): Promise<unknown[]> {
  const columns = await rowsOf(
    db,
    sql`select table_name, column_name, data_type, is_nullable, column_default, is_identity
        from information_schema.columns where table_schema = current_schema()
        order by table_name, column_name`,
  );
  const indexes = await rowsOf(
    db,
    sql`select tablename, indexname, indexdef from pg_indexes where schemaname = current_schema() order by indexname`,
  );
  return [...columns, ...indexes];
}

async function appliedCount(db: Db): Promise<number> {
  const [row] = await rowsOf<{ n: number | string }>(db, sql`select count(*) as n from budget_gateway_migrations`);
  return Number(row!.n);
}

/** A copy of drizzle/ with one more migration in the journal. */
function folderWithExtraMigration(tag: string, script: string): string {
  const folder = join(mkdtempSync(join(tmpdir(), 'budget-gateway-migrations-')), 'drizzle');
  cpSync(defaultMigrationsFolder(), folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { idx: number; tag: string }[] };
  journal.entries.push({ idx: journal.entries.length, tag });
  writeFileSync(journalPath, JSON.stringify(journal));
  writeFileSync(join(folder, `${tag}.sql`), script);
  return folder;
}

describe('defaultMigrationsFolder', () => {
  it('finds drizzle/ at the package root, with the journal and the down scripts', () => {
    const folder = defaultMigrationsFolder();
    expect(existsSync(join(folder, 'meta', '_journal.json'))).toBe(true);
    expect(existsSync(join(folder, 'down', '0000_init.sql'))).toBe(true);
  });
});

forEachDatabase(
  'migrations',
  (t) => {
    // Each test starts from an empty schema, whatever the previous one left.
    beforeEach(async () => {
      await migrateDown(t.database, { steps: 1_000 });
    });

    it('up creates every table; a second up is a no-op', async () => {
      expect(await migrateUp(t.database)).toEqual(MIGRATIONS);
      expect(await tables(t.db)).toEqual(TABLES);
      const before = await shape(t.db);
      expect(await migrateUp(t.database)).toEqual([]);
      expect(await shape(t.db)).toEqual(before);
      expect(await appliedCount(t.db)).toBe(MIGRATIONS.length);
    });

    it('up, down, up restores the same tables, columns and indexes', async () => {
      await migrateUp(t.database);
      const before = await shape(t.db);
      expect(await migrateDown(t.database, { steps: MIGRATIONS.length })).toEqual([...MIGRATIONS].reverse());
      expect(await tables(t.db)).toEqual(['budget_gateway_migrations']);
      expect(await appliedCount(t.db)).toBe(0);
      expect(await migrateUp(t.database)).toEqual(MIGRATIONS);
      expect(await shape(t.db)).toEqual(before);
    });

    it('each migration goes down and up again on its own, newest first', async () => {
      await migrateUp(t.database);
      const shapes: unknown[][] = [];
      for (const tag of [...MIGRATIONS].reverse()) {
        shapes.push(await shape(t.db));
        expect(await migrateDown(t.database, { steps: 1 })).toEqual([tag]);
      }
      for (const tag of MIGRATIONS) {
        expect(await migrateUp(t.database, undefined, { steps: 1 })).toEqual([tag]);
        expect(await shape(t.db)).toEqual(shapes.pop());
      }
    });

    it('down with nothing applied does nothing, and refuses a step count below 1', async () => {
      expect(await migrateDown(t.database, { steps: 1 })).toEqual([]);
      await expect(migrateDown(t.database, { steps: 0 })).rejects.toThrow(RangeError);
    });

    it('rolls every pending migration back when one fails', async () => {
      const folder = folderWithExtraMigration(
        '9000_broken',
        'create table "broken" (id int);\n--> statement-breakpoint\nselect nope;',
      );
      onTestFinished(() => rmSync(dirname(folder), { recursive: true, force: true }));
      await expect(migrateUp(t.database, folder)).rejects.toThrow(/migration 9000_broken failed/);
      expect(await tables(t.db)).toEqual(['budget_gateway_migrations']);
      expect(await appliedCount(t.db)).toBe(0);
    });

    it('refuses to go down beneath a migration it has no script for', async () => {
      await migrateUp(t.database);
      await t.db.execute(sql`insert into budget_gateway_migrations (tag) values ('9999_from_a_newer_release')`);
      onTestFinished(async () => {
        await t.db.execute(sql`delete from budget_gateway_migrations where tag = '9999_from_a_newer_release'`);
      });
      await expect(migrateDown(t.database, { steps: 1 })).rejects.toThrow(/9999_from_a_newer_release/);
      expect(await tables(t.db)).toEqual(TABLES);
    });

    it('concurrent ups on one database apply each migration once', async () => {
      const results = await Promise.all([migrateUp(t.database), migrateUp(t.database), migrateUp(t.database)]);
      expect(results.flat()).toEqual(MIGRATIONS);
      expect(await appliedCount(t.db)).toBe(MIGRATIONS.length);
    });

    // Only PostgreSQL has replicas with pools of their own: a PGlite folder has one owner.
    if (t.kind === 'postgres') {
      it('replicas starting at once (own pools) apply each migration once', async () => {
        const replicas = [t.database, await t.connect(), await t.connect()];
        const results = await Promise.all(replicas.map((replica) => migrateUp(replica)));
        expect(results.flat()).toEqual(MIGRATIONS);
        expect(await appliedCount(t.db)).toBe(MIGRATIONS.length);
        expect(await tables(t.db)).toEqual(TABLES);
      });
    }
  },
  { migrated: false },
);
