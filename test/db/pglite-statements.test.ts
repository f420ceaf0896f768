import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NamedStatements } from '../../src/db/pglite-statements.js';

const TEXT_TIMES = [1184];

describe('named statements in the embedded database', () => {
  let db: PGlite;

  beforeAll(async () => {
    db = await PGlite.create();
    await db.exec(`create table t (id int primary key, at timestamptz, note text)`);
  });
  afterAll(async () => {
    await db.close();
  });

  /** The texts of the statements PostgreSQL holds prepared, sorted (read through PGlite's own unnamed path). */
  async function preparedTexts(): Promise<string[]> {
    const result = await db.query<{ statement: string }>('select statement from pg_prepared_statements');
    return result.rows.map((row) => row.statement).sort();
  }

  it('prepares a statement once and runs it again with each call’s values, as PGlite’s query would answer', async () => {
    const statements = new NamedStatements(db);
    const insert = 'insert into t (id, at, note) values ($1, $2, $3)';
    const insertResult = await statements.query(insert, [1, new Date('2026-11-23T10:00:00Z'), 'one'], 'object');
    await statements.query(insert, [2, '2026-11-23T11:00:00Z', null], 'object');
    await statements.query(insert, [3, null, 'three'], 'object');
    expect(insertResult).toMatchObject({ rows: [], fields: [], affectedRows: 1 });

    const select = 'select id, at, note from t where id = $1';
    for (const id of [1, 2, 3, 4]) {
      const ours = await statements.query(select, [id], 'array', TEXT_TIMES);
      const pglite = await db.query(select, [id], { rowMode: 'array', parsers: { 1184: (value: string) => value } });
      expect(ours.rows).toEqual(pglite.rows);
      expect(ours.fields).toEqual(pglite.fields);
    }
    expect((await statements.query(select, [2], 'object')).rows).toEqual([{ id: 2, at: new Date('2026-11-23T11:00:00Z'), note: null }]);
    expect((await statements.query(select, [1], 'array', TEXT_TIMES)).rows).toEqual([[1, '2026-11-23 10:00:00+00', 'one']]);

    expect(statements.size).toBe(2);
    expect(await preparedTexts()).toEqual([insert, select].sort());
  });

  it('answers an error like PGlite’s query, and the statement and the connection go on working', async () => {
    const statements = new NamedStatements(db);
    const insert = 'insert into t (id, note) values ($1, $2) returning id';
    const failure = await statements.query(insert, [1, 'again'], 'array').catch((err: unknown) => err);
    expect(failure).toMatchObject({ code: '23505' });
    expect((await statements.query(insert, [5, 'five'], 'array')).rows).toEqual([[5]]);

    // SQL that does not parse is not kept.
    await expect(statements.query('selec 1', [], 'array')).rejects.toMatchObject({ code: '42601' });
    expect(statements.size).toBe(1);
    expect((await db.query('select count(*)::int as n from t')).rows).toEqual([{ n: 4 }]);
  });

  it('prepares a statement again when the table it reads changed its columns', async () => {
    const statements = new NamedStatements(db);
    await db.exec('create table wide (id int)');
    await db.exec('insert into wide values (1)');
    const select = 'select * from wide';
    expect((await statements.query(select, [], 'array')).rows).toEqual([[1]]);
    await db.exec(`alter table wide add column label text default 'x'`);
    const after = await statements.query(select, [], 'array');
    expect(after.rows).toEqual([[1, 'x']]);
    expect(after.fields.map((field) => field.name)).toEqual(['id', 'label']);
    expect(statements.size).toBe(1);
    expect((await preparedTexts()).filter((text) => text === select)).toHaveLength(1);
  });

  it('keeps at most its limit of statements, closing the oldest', async () => {
    const statements = new NamedStatements(db, 2);
    const texts = ['select 1 as a', 'select 2 as b', 'select 3 as c'];
    for (const text of texts) await statements.query(text, [], 'array');
    expect(statements.size).toBe(2);
    expect((await preparedTexts()).filter((text) => texts.includes(text))).toEqual([texts[1], texts[2]]);
    // The closed one is prepared again when it comes back.
    expect((await statements.query(texts[0]!, [], 'array')).rows).toEqual([[1]]);
    expect((await preparedTexts()).filter((text) => texts.includes(text))).toEqual([texts[0], texts[2]]);
  });

  it('waits for a transaction PGlite holds open, as its query does', async () => {
    const statements = new NamedStatements(db);
    let release!: () => void;
    let inserted!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const insertedInTransaction = new Promise<void>((resolve) => (inserted = resolve));
    const transaction = db.transaction(async (tx) => {
      await tx.query('insert into t (id) values (20)');
      inserted();
      await held;
    });
    await insertedInTransaction;
    let read: unknown;
    const outside = statements.query('select count(*)::int from t where id = 20', [], 'array').then((result) => (read = result.rows));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(read).toBeUndefined();
    release();
    await transaction;
    await outside;
    expect(read).toEqual([[1]]);
  });
});
