import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/client.js';
import { isUniqueViolation } from '../../src/db/errors.js';
import { PgliteThread } from '../../src/db/pglite-thread.js';

describe('the embedded database in its own thread', () => {
  let dir: string;
  let thread: PgliteThread;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bg-pglite-thread-'));
    thread = await PgliteThread.open(join(dir, 'data'));
    await thread.query('create table t (id int primary key, at timestamptz, note text)');
  });
  afterAll(async () => {
    await thread.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens the database durable: fsync on, the WAL synced by fsync (see pglite-durable.test.ts)', async () => {
    const setting = async (name: string) => ((await thread.query(`show ${name}`)).rows[0] as Record<string, string>)[name];
    expect(await setting('fsync')).toBe('on');
    expect(await setting('wal_sync_method')).toBe('fsync');
  });

  it('answers queries with parameters, as objects or arrays, keeping the types drizzle asks for as text', async () => {
    await thread.query('insert into t values ($1, $2, $3)', [1, '2026-11-23T10:00:00Z', 'a "quoted" note']);
    const objects = await thread.query('select id, note from t where id = $1', [1]);
    expect(objects.rows).toEqual([{ id: 1, note: 'a "quoted" note' }]);
    const arrays = await thread.query('select id, at from t', [], { rowMode: 'array', parsers: { 1184: (v: string) => v } });
    expect(arrays.rows).toEqual([[1, '2026-11-23 10:00:00+00']]);
    const parsed = await thread.query('select at from t');
    expect((parsed.rows[0] as { at: unknown }).at).toBeInstanceOf(Date);
    expect(parsed.fields.map((f) => f.name)).toEqual(['at']);
  });

  it('commits a transaction, and rolls one back when its function throws', async () => {
    await thread.transaction(async (tx) => {
      await tx.query('insert into t (id) values (2)');
      await tx.query('insert into t (id) values (3)');
    });
    await expect(
      thread.transaction(async (tx) => {
        await tx.query('insert into t (id) values (4)');
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    const ids = await thread.query('select id from t order by id', [], { rowMode: 'array' });
    expect(ids.rows).toEqual([[1], [2], [3]]);
  });

  it('makes other queries wait for an open transaction, as the in-process PGlite does', async () => {
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const transaction = thread.transaction(async (tx) => {
      await tx.query('insert into t (id) values (10)');
      order.push('inserted');
      await held;
      order.push('committing');
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const outside = thread.query('select count(*)::int as n from t where id = 10').then((r) => {
      order.push('outside read');
      return r.rows[0];
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(order).toEqual(['inserted']);
    release();
    await transaction;
    expect(await outside).toEqual({ n: 1 });
    expect(order).toEqual(['inserted', 'committing', 'outside read']);
  });

  it('prepares each statement run outside a transaction once, and leaves a transaction’s to PGlite', async () => {
    const outside = 'select note from t where id = $1';
    const inside = 'select note from t where id = $1 and true';
    for (const id of [1, 2, 1]) await thread.query(outside, [id]);
    expect((await thread.query(outside, [1])).rows).toEqual([{ note: 'a "quoted" note' }]);
    await thread.transaction((tx) => tx.query(inside, [1]));
    const prepared = await thread.query('select statement from pg_prepared_statements where statement = any($1)', [[outside, inside]], { rowMode: 'array' });
    expect(prepared.rows).toEqual([[outside]]);
  });

  it('loads COPY batches sent at once, large or not, each exactly as sent, through its shared memory', async () => {
    await thread.query('create table copied (id int primary key, note text)');
    const columns = [
      { name: 'id', type: 'int4' },
      { name: 'note', type: 'text' },
    ] as const;
    const batch = (from: number, count: number, note: (i: number) => string) =>
      Array.from({ length: count }, (_, k) => JSON.stringify({ id: from + k, note: note(from + k) }));
    // Characters of 1 to 4 bytes in UTF-8, JSON escapes, notes of 3 MB (past the first 1 MB area),
    // and one of 700,000 characters that take 1.4 MB.
    const text = (i: number) => `é€😀 "${i}"\n\u0041`;
    const batches = [batch(0, 500, text), batch(1000, 500, (i) => `second ${i}`), batch(2000, 3, (i) => 'x'.repeat(1 << 20) + i), batch(3000, 1, () => ''), batch(5000, 1, () => 'é'.repeat(700_000))];
    // All four in flight together: none may write over another's bytes before the thread has read them.
    expect(await Promise.all(batches.map((b) => thread.copyJson('copied', columns, b)))).toEqual([500, 500, 3, 1, 1]);
    const rows = (await thread.query('select id, note from copied order by id')).rows as { id: number; note: string }[];
    expect(rows).toEqual(batches.flat().map((row) => JSON.parse(row) as unknown));
    // And again, once the areas are being reused.
    expect(await thread.copyJson('copied', columns, batch(4000, 2, text))).toBe(2);
    expect((await thread.query('select note from copied where id = 4001')).rows).toEqual([{ note: text(4001) }]);
  });

  it("passes the database's errors on with their SQLSTATE", async () => {
    const failure = await thread.query('insert into t (id) values (1)').catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as { code?: string }).code).toBe('23505');
    expect(isUniqueViolation(failure)).toBe(true);
    // A transaction whose statement fails is rolled back and the error surfaces.
    await expect(thread.transaction((tx) => tx.query('insert into t (id) values (2)'))).rejects.toMatchObject({ code: '23505' });
  });

  it('leaves the calling thread free while the database works', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const started = performance.now();
    await thread.query('select count(*) from generate_series(1, 3000000)');
    const tookMs = performance.now() - started;
    clearInterval(timer);
    // In the same thread, no timer could fire until the query returned. Bounds are loose on purpose.
    expect(tookMs).toBeGreaterThan(100);
    expect(ticks).toBeGreaterThan(tookMs / 10 / 4);
  });
});

describe('the thread in the background', () => {
  it('moves only its own thread to the idle scheduling class, and still answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-pglite-idle-'));
    const thread = await PgliteThread.open(join(dir, 'data'));
    try {
      const policyOf = (tid: number | string) => {
        const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]); // field 41: policy
      };
      expect(thread.tid).toBeGreaterThan(process.pid); // a thread of this process, not the process
      expect(policyOf(thread.tid!)).toBe(0); // SCHED_OTHER
      await thread.runAsBackground();
      expect(policyOf(thread.tid!)).toBe(5); // SCHED_IDLE
      expect(policyOf(process.pid)).toBe(0); // the calling thread keeps its own
      expect((await thread.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await thread.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('openDatabase on the embedded defaults', () => {
  let dir: string;
  let database: Database;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bg-pglite-open-'));
    database = await openDatabase({ dataDir: join(dir, 'data') });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves drizzle through the thread, transactions and savepoints included, and refuses calls once closed', async () => {
    await database.db.execute(sql`create table n (v int)`);
    await database.db.transaction(async (tx) => {
      await tx.execute(sql`insert into n values (1)`);
      await tx
        .transaction(async (inner) => {
          await inner.execute(sql`insert into n values (2)`);
          inner.rollback();
        })
        .catch(() => undefined);
    });
    const result = (await database.db.execute(sql`select v from n`)) as unknown as { rows: { v: number }[] };
    expect(result.rows).toEqual([{ v: 1 }]);
    await database.ping();
    await database.close();
    await expect(database.ping()).rejects.toThrow();
  });

  it('keeps what it wrote across a reopen of the same folder', async () => {
    const again = await openDatabase({ dataDir: join(dir, 'data') });
    const result = (await again.db.execute(sql`select count(*)::int as c from n`)) as unknown as { rows: { c: number }[] };
    expect(result.rows).toEqual([{ c: 1 }]);
    await again.close();
  });

  it('refuses to open, with the reason, where the folder cannot hold a database, and leaves no thread behind', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a folder');
    const threadsBefore = readdirSync('/proc/self/task').length;
    // Node's own error (its parent is a file), and PGlite's file system's, which has no message
    // of its own (the folder is a file): both come back saying what went wrong.
    await expect(PgliteThread.open(join(file, 'data'))).rejects.toThrow(/ENOTDIR: not a directory/);
    await expect(PgliteThread.open(file)).rejects.toThrow(/^ErrnoError \(errno \d+\)$/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(readdirSync('/proc/self/task').length).toBeLessThanOrEqual(threadsBefore);
  }, 20_000);
});
