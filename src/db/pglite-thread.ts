import type { Worker } from 'node:worker_threads';
import { moduleWorker, runAsBackground } from '../threads.js';
import type { CopyColumn } from './copy-binary.js';

/**
 * The embedded PGlite in a worker thread of its own, behind the part of PGlite's client that
 * drizzle's pglite driver uses (`query`, `transaction`). PGlite runs PostgreSQL as WebAssembly on
 * whichever thread owns it: a ledger flush of 100 rows holds that thread for about 5 ms (1.1 ms
 * per statement plus 37 µs per row, measured), so on the request thread it was a third of the
 * embedded gateway's CPU and the whole of its latency tail. Here requests go on while it writes.
 *
 * PGlite's own `PGliteWorker` needs the browser's Worker and `navigator.locks`, which Node 20
 * lacks; this is the same idea over `worker_threads`. Every call is one message each way
 * (structured clone: strings, numbers, Dates, Uint8Arrays); an interactive transaction holds
 * PGlite's own lock in the worker until the main thread commits or rolls it back, exactly as an
 * in-process transaction holds it, so other queries wait for it there.
 */

export interface QueryOptions {
  readonly rowMode?: 'array' | 'object';
  /** Type OIDs whose values stay text. drizzle passes identity parsers for dates and intervals. */
  readonly parsers?: Readonly<Record<number, unknown>>;
}

export interface QueryResult {
  readonly rows: unknown[];
  readonly fields: { name: string; dataTypeID: number }[];
  readonly affectedRows?: number;
}

export interface PgliteClient {
  query(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult>;
  transaction<T>(fn: (tx: PgliteClient) => Promise<T>): Promise<T>;
}

/** What the calling thread asks of the database's thread (pglite-worker.ts). */
export type Request =
  | { op: 'query'; sql: string; params: unknown[]; rowMode: 'array' | 'object'; textTypes: number[]; txId: number | undefined }
  | { op: 'begin'; txId: number }
  | { op: 'end'; txId: number; commit: boolean }
  | { op: 'copy'; table: string; columns: readonly CopyColumn[]; area: SharedArrayBuffer; ends: Uint32Array }
  | { op: 'close' };

/** Its answer; id 0 is the one sent once the database is open (with the thread's kernel id). */
export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: Record<string, unknown> };

export class PgliteThread implements PgliteClient {
  readonly #worker: Worker;
  readonly #calls = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  #next = 1;
  #nextTx = 1;
  /** Shared memory kept for `copyJson`'s batches, free for the next one. */
  readonly #areas: SharedArrayBuffer[] = [];
  #failed: Error | undefined;
  /** The thread's id in the kernel (Linux); undefined elsewhere. */
  #tid: number | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (reply: Reply) => this.#settle(reply));
    worker.on('error', (err) => this.#fail(err));
    worker.on('exit', (code) => this.#fail(new Error(`the embedded database's thread exited (code ${code})`)));
  }

  /** Starts the thread and opens (or creates) the database in `dataDir`. */
  static async open(dataDir: string): Promise<PgliteThread> {
    const worker = moduleWorker(import.meta.url, './pglite-worker', { workerData: { dataDir } });
    const thread = new PgliteThread(worker);
    const opened = new Promise((resolve, reject) => thread.#calls.set(0, { resolve, reject }));
    worker.ref();
    try {
      thread.#tid = ((await opened) as { tid: number | null }).tid ?? undefined;
    } catch (err) {
      await worker.terminate();
      throw err;
    } finally {
      thread.#idle();
    }
    return thread;
  }

  query(sql: string, params: unknown[] = [], options: QueryOptions = {}): Promise<QueryResult> {
    return this.#query(sql, params, options, undefined);
  }

  async transaction<T>(fn: (tx: PgliteClient) => Promise<T>): Promise<T> {
    const txId = this.#nextTx++;
    await this.#call({ op: 'begin', txId });
    const tx: PgliteClient = {
      query: (sql, params = [], options = {}) => this.#query(sql, params, options, txId),
      transaction: () => Promise.reject(new Error('nested transactions go through savepoints (drizzle does this itself)')),
    };
    let result: T;
    try {
      result = await fn(tx);
    } catch (err) {
      await this.#call({ op: 'end', txId, commit: false }).catch(() => undefined);
      throw err;
    }
    await this.#call({ op: 'end', txId, commit: true });
    return result;
  }

  /**
   * Loads JSON objects (one text each) into `table` with COPY, one row per object, each column
   * read from it by name; returns the rows loaded. All or nothing, and with no ON CONFLICT: a row
   * that breaks a constraint fails the whole load. The objects are read and turned into COPY's
   * binary format in the database's thread (`binaryCopyObjects`). In PGlite, COPY costs a third
   * less per row than an INSERT reading the same rows with `json_to_recordset` (its JSON parsing
   * is most of the difference), and binary COPY less again than CSV (no text to parse into each
   * type).
   *
   * The objects cross as UTF-8 written into shared memory that is reused from batch to batch
   * (`#areas`), not as one joined string posted to the thread: a batch of 500 events is about
   * 160 KB, and joining it and then copying it into the message took fresh memory from the kernel
   * twice per batch (V8's large-object space, the message's buffer), which it zeroes first. That
   * was the largest part of what the embedded gateway's request thread spent over the plain
   * proxy's under `perf` (bench/README.md, "What each change bought").
   */
  async copyJson(table: string, columns: readonly CopyColumn[], objects: readonly string[]): Promise<number> {
    const area = this.#area(objects);
    try {
      const ends = writeObjects(area, objects);
      return (await this.#call({ op: 'copy', table, columns, area, ends })) as number;
    } finally {
      // Reused once the thread is done with it (it has read it when it replies); a rare large
      // batch's area is let go rather than kept.
      if (area.byteLength <= MAX_KEPT_AREA && this.#areas.length < 2) this.#areas.push(area);
    }
  }

  /** Shared memory for `objects` as UTF-8: a kept one that is large enough, or a new one. */
  #area(objects: readonly string[]): SharedArrayBuffer {
    let chars = 0;
    for (const o of objects) chars += o.length;
    // A UTF-16 code unit takes at most 3 bytes of UTF-8 (a surrogate pair 4 for 2 units).
    const bound = chars * 3;
    const i = this.#areas.findIndex((a) => a.byteLength >= bound);
    if (i >= 0) return this.#areas.splice(i, 1)[0]!;
    return new SharedArrayBuffer(Math.max(MIN_AREA, 2 ** Math.ceil(Math.log2(bound))));
  }

  /**
   * The thread at idle scheduling priority (see `runAsBackground` in threads.ts): its work is the
   * ledger's batch writes, a few milliseconds of CPU at a time, which can wait for a free core.
   */
  async runAsBackground(): Promise<void> {
    await runAsBackground(this.#tid);
  }

  /** The thread's id in the kernel (Linux), for tests and diagnostics. */
  get tid(): number | undefined {
    return this.#tid;
  }

  async close(): Promise<void> {
    if (!this.#failed) await this.#call({ op: 'close' }).catch(() => undefined);
    await this.#worker.terminate();
  }

  #query(sql: string, params: unknown[], options: QueryOptions, txId: number | undefined): Promise<QueryResult> {
    const textTypes = Object.keys(options.parsers ?? {}).map(Number);
    return this.#call({ op: 'query', sql, params, rowMode: options.rowMode ?? 'object', textTypes, txId }) as Promise<QueryResult>;
  }

  #call(request: Request): Promise<unknown> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#next++;
    // The thread keeps the process alive only while a call is under way.
    if (this.#calls.size === 0) this.#worker.ref();
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      this.#worker.postMessage({ id, request });
    });
  }

  #settle(reply: Reply): void {
    const call = this.#calls.get(reply.id);
    if (!call) return;
    this.#calls.delete(reply.id);
    this.#idle();
    if (reply.ok) call.resolve(reply.value);
    else call.reject(Object.assign(new Error(String(reply.error.message)), reply.error));
  }

  #idle(): void {
    if (this.#calls.size === 0) this.#worker.unref();
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const call of this.#calls.values()) call.reject(err);
    this.#calls.clear();
  }
}

/** 1 MB holds the 500-event batches of the ledger's writer (about 160 KB) three times over. */
const MIN_AREA = 1 << 20;
const MAX_KEPT_AREA = 16 << 20;

/** `objects` as UTF-8 one after another into `area` (large enough: see `#area`); where each ends. */
function writeObjects(area: SharedArrayBuffer, objects: readonly string[]): Uint32Array {
  const bytes = Buffer.from(area);
  const ends = new Uint32Array(objects.length);
  let at = 0;
  for (let i = 0; i < objects.length; i++) {
    at += bytes.write(objects[i]!, at, 'utf8');
    ends[i] = at;
  }
  return ends;
}
