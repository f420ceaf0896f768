import fs from 'node:fs';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';

/**
 * The embedded database, as durable on disk as PostgreSQL itself. Out of the box PGlite on Node
 * never makes the kernel write anything to disk: it starts PostgreSQL with fsync off (`-F`), its
 * Node file system (Emscripten's NODEFS) has no fsync to call, and fdatasync is a no-op in its
 * system-call layer. A killed process loses nothing that way (the kernel still holds the
 * writes), but a power loss or a kernel crash could lose committed ledger rows or leave the
 * folder damaged. So here PostgreSQL runs with fsync on, syncs its WAL with fsync (the one call
 * that reaches the file system), and the file system's fsync is Node's: a commit returns once
 * its WAL is on disk, and checkpoints sync the data files, pg_control and the folders, in
 * PostgreSQL's own order. A folder PGlite has just created (initdb writes it without syncing)
 * is synced whole once.
 */
export async function openDurablePglite(dataDir: string): Promise<PGlite> {
  const created = !fs.existsSync(join(dataDir, 'PG_VERSION'));
  const db = await PGlite.create({ fs: new SyncedNodeFS(dataDir), startParams: [...DURABLE_START_PARAMS] });
  if (created) {
    syncTree(dataDir);
    syncPath(dirname(dataDir)); // the folder's own entry
  }
  return db;
}

/** PGlite's start-up parameters without `-F` (fsync off), with the WAL synced by fsync. */
const DURABLE_START_PARAMS: readonly string[] = [...PGlite.defaultStartParams.filter((p) => p !== '-F'), '-c', 'wal_sync_method=fsync'];

/** Emscripten's file-system module as far as it is used here (PGlite's types leave it out). */
interface WithNodeFs {
  NODEFS: { stream_ops: { fsync?: (stream: { nfd: number }) => number } };
}

/** PGlite's Emscripten options (its `PostgresMod` type is not exported). */
type EmscriptenOptions = Parameters<NodeFS['init']>[1];
type PreRun = NonNullable<EmscriptenOptions['preRun']>[number];

/** PGlite's Node file system, with an fsync that reaches the disk. */
class SyncedNodeFS extends NodeFS {
  override async init(pg: PGlite, opts: EmscriptenOptions): ReturnType<NodeFS['init']> {
    const { emscriptenOpts } = await super.init(pg, opts);
    const giveFsync: PreRun = (mod) => {
      // Every file of the mounted folder shares this object, so one assignment covers them all.
      (mod as unknown as WithNodeFs).NODEFS.stream_ops.fsync = (stream) => {
        fs.fsyncSync(stream.nfd);
        return 0;
      };
    };
    return { emscriptenOpts: { ...emscriptenOpts, preRun: [...(emscriptenOpts.preRun ?? []), giveFsync] } };
  }
}

/** fsync of every file and folder under `dir`, folders after what they hold. */
function syncTree(dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) syncTree(path);
    else if (entry.isFile()) syncPath(path);
  }
  syncPath(dir);
}

function syncPath(path: string): void {
  const fd = fs.openSync(path, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
