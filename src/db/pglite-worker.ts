import { parentPort, workerData } from 'node:worker_threads';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import { kernelThreadId } from '../threads.js';
import { binaryCopyObjects, copyStatement } from './copy-binary.js';
import { openDurablePglite } from './pglite-durable.js';
import { NamedStatements } from './pglite-statements.js';
import type { Reply, Request } from './pglite-thread.js';

// The embedded database's thread (started by PgliteThread.open): owns the PGlite instance and
// answers the calling thread's messages, one reply per request, in the order each completes.

const port = parentPort!;
const { dataDir } = workerData as { dataDir: string };

/** Thrown inside PGlite's transaction callback to roll it back; never reaches the caller. */
const ROLLBACK = Symbol('rollback');

/** An interactive transaction: PGlite's callback stays open until the calling thread ends it. */
interface OpenTransaction {
  tx: Transaction | undefined;
  finish(commit: boolean): void;
  done: Promise<void>;
}

const open = new Map<number, OpenTransaction>();
const identity = (value: unknown): unknown => value;

const db = await openDurablePglite(dataDir).catch((err: unknown) => {
  // Nothing else is listened to then: the thread ends once this is sent.
  reply({ id: 0, ok: false, error: describe(err) });
  return undefined;
});
if (db) {
  const statements = new NamedStatements(db);
  // The thread's id in the kernel, for its scheduling policy (see PgliteThread.runAsBackground).
  reply({ id: 0, ok: true, value: { tid: kernelThreadId() } });
  port.on('message', ({ id, request }: { id: number; request: Request }) => {
    run(db, statements, request).then(
      (value) => reply({ id, ok: true, value }),
      (err: unknown) => reply({ id, ok: false, error: describe(err) }),
    );
  });
}

function reply(message: Reply): void {
  port.postMessage(message);
}

async function run(db: PGlite, statements: NamedStatements, request: Request): Promise<unknown> {
  switch (request.op) {
    case 'query': {
      if (request.txId === undefined) {
        const result = await statements.query(request.sql, request.params, request.rowMode, request.textTypes);
        return { rows: result.rows, fields: result.fields, affectedRows: result.affectedRows };
      }
      const parsers = Object.fromEntries(request.textTypes.map((oid) => [oid, identity]));
      const on = open.get(request.txId)?.tx;
      if (!on) throw new Error(`transaction ${request.txId} is not open`);
      const result = await on.query(request.sql, request.params, { rowMode: request.rowMode, parsers });
      return { rows: result.rows, fields: result.fields, affectedRows: result.affectedRows };
    }
    case 'begin': {
      let finish!: (commit: boolean) => void;
      let begun!: () => void;
      const ended = new Promise<boolean>((resolve) => (finish = resolve));
      const started = new Promise<void>((resolve) => (begun = resolve));
      const entry: OpenTransaction = { tx: undefined, finish, done: Promise.resolve() };
      entry.done = db.transaction(async (tx) => {
        entry.tx = tx;
        begun();
        if (!(await ended)) throw ROLLBACK;
      });
      open.set(request.txId, entry);
      // It began, or it failed before beginning (then nothing is left to end).
      const failedEarly = entry.done.then(
        () => new Promise<never>(() => {}),
        (err: unknown) => {
          if (entry.tx !== undefined) return new Promise<never>(() => {});
          open.delete(request.txId);
          throw err;
        },
      );
      await Promise.race([started, failedEarly]);
      return null;
    }
    case 'end': {
      const entry = open.get(request.txId);
      if (!entry) throw new Error(`transaction ${request.txId} is not open`);
      open.delete(request.txId);
      entry.finish(request.commit);
      try {
        await entry.done;
      } catch (err) {
        if (err !== ROLLBACK) throw err;
      }
      return null;
    }
    case 'copy': {
      // Read before the reply, after which the calling thread reuses the area for its next batch.
      const utf8 = Buffer.from(request.area);
      const objects = Array.from(request.ends, (end, i) => utf8.toString('utf8', i === 0 ? 0 : request.ends[i - 1], end));
      const { bytes } = binaryCopyObjects(objects, request.columns);
      const result = await db.query(copyStatement(request.table, request.columns, `'/dev/blob'`), [], { blob: new Blob([bytes]) });
      return result.affectedRows;
    }
    case 'close':
      await db.close();
      return null;
  }
}

/**
 * An error as plain data (it crosses threads by structured clone): its message, name and scalar
 * fields (PostgreSQL's code, detail...). PGlite's file system throws Emscripten's ErrnoError,
 * which has no message: it is named by its name and errno instead of "[object Object]".
 */
function describe(err: unknown): Record<string, unknown> {
  const e = err as { message?: unknown; name?: unknown; errno?: unknown } | null | undefined;
  const message =
    typeof e?.message === 'string' ? e.message : e && typeof e === 'object' && typeof e.name === 'string' ? `${e.name}${e.errno === undefined ? '' : ` (errno ${String(e.errno)})`}` : String(err);
  const out: Record<string, unknown> = { message, name: e?.name };
  if (err && typeof err === 'object') {
    for (const [key, value] of Object.entries(err)) {
      if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) out[key] = value;
    }
  }
  out.message = message;
  return out;
}
