import fs, { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openDurablePglite } from '../../src/db/pglite-durable.js';

// What reaches the disk is what the kernel is asked to sync: every fsync the process makes is
// recorded with the path of its file (Linux /proc), relative to the data folder.
describe('the embedded database syncs its writes to disk', () => {
  let root: string;
  let dataDir: string;
  let db: PGlite | undefined;
  let synced: string[] = [];

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'bg-pglite-durable-'));
    dataDir = join(root, 'data');
    const fsync = fs.fsyncSync.bind(fs);
    vi.spyOn(fs, 'fsyncSync').mockImplementation((fd: number) => {
      synced.push(relative(dataDir, readlinkSync(`/proc/self/fd/${fd}`)) || '.');
      fsync(fd);
    });
  });
  afterEach(async () => {
    await db?.close();
    db = undefined;
  });
  afterAll(() => {
    vi.restoreAllMocks();
    rmSync(root, { recursive: true, force: true });
  });

  it('syncs a folder it has just created whole, then each commit’s WAL before the commit returns', async () => {
    synced = [];
    db = await openDurablePglite(dataDir);
    const files = filesUnder(dataDir);
    expect(files.length).toBeGreaterThan(500);
    for (const file of files) expect(synced).toContain(file);
    expect(synced).toContain('.');
    expect(synced).toContain('..'); // the data folder's entry in its parent

    expect((await db.query<{ fsync: string }>('show fsync')).rows[0]?.fsync).toBe('on');
    await db.exec('create table t (x int)');
    synced = [];
    await db.query('insert into t values (1)');
    expect(synced.filter((p) => p.startsWith('pg_wal/'))).not.toEqual([]);
  });

  it('opens an existing folder without syncing it whole, and a checkpoint syncs the data files and pg_control', async () => {
    synced = [];
    db = await openDurablePglite(dataDir);
    expect(synced).not.toContain('PG_VERSION');
    await db.query('insert into t values (2)');
    synced = [];
    await db.exec('checkpoint');
    expect(synced).toContain(join('global', 'pg_control'));
    expect(synced.some((p) => p.startsWith('base/'))).toBe(true);
    expect((await db.query<{ n: number }>('select count(*)::int as n from t')).rows[0]?.n).toBe(2);
  });
});

function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(path, base);
    return e.isFile() ? [relative(base, path)] : [];
  });
}
