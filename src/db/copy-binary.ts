/**
 * Rows in PostgreSQL's binary COPY format (the COPY reference, "Binary Format"): a header, then
 * per row its field count and each field as a 32-bit length (−1 for null) and its bytes as the
 * type's binary send function writes them, then a trailer. Ledger batches are loaded this way
 * on both databases: PostgreSQL then parses no text (uuids, integers and above all timestamps).
 * A row cost PGlite's thread 17.1 µs instead of 19.0 as CSV, and PostgreSQL 9.6 instead of 17.6
 * as an INSERT reading JSON (bench/README.md, "What each change bought"). Pure: no I/O.
 */

/** The types a column may have here: those of the usage ledger. */
export type CopyType = 'uuid' | 'text' | 'int4' | 'int8' | 'timestamptz';

export interface CopyColumn {
  readonly name: string;
  readonly type: CopyType;
}

/** `PGCOPY\n\377\r\n\0`, then flags and header extension length, both 0. */
const HEADER = [0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
/** PostgreSQL counts time in µs from 2000-01-01 UTC. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TWO_32 = 2 ** 32;
/** ISO 8601 with a zone, to the millisecond at most (Date.parse would drop finer digits). */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A row that no COPY of these columns can take: a value not of its column's type, or rows that
 * are not JSON objects. Named so that it is still told apart after crossing from the database's
 * thread (where only the name and message survive): a batch failing with it holds an event that
 * would fail every retry, and the ledger sets that event aside (`src/ledger/ledger-sink.ts`).
 */
export class UnstorableValueError extends TypeError {
  override readonly name = 'UnstorableValueError';
}

/**
 * `objects`, each the JSON text of one object keyed by column name (a usage event), in binary
 * COPY format: `binaryCopy` of the parsed rows. Each text is read on its own, so one that is not
 * exactly one JSON object (not JSON, `null`, an array, two objects) throws
 * `UnstorableValueError`, as a bad value does, and never becomes some other number of rows.
 */
export function binaryCopyObjects(objects: readonly string[], columns: readonly CopyColumn[]): { rows: number; bytes: Buffer } {
  const rows = objects.map((text) => {
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch (err) {
      throw new UnstorableValueError(`binary COPY: a row is not JSON (${(err as Error).message})`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new UnstorableValueError(`binary COPY: a row is not a JSON object: ${shown(row)}`);
    return row as Record<string, unknown>;
  });
  return { rows: rows.length, bytes: binaryCopy(rows, columns) };
}

/**
 * `rows` (objects read by column name) in binary COPY format. A value that is not of its column's
 * type throws (an `UnstorableValueError`, a `TypeError`, naming the column), so a bad row fails
 * its batch as COPY would with text. Timestamps come as ISO 8601 text (as the usage events carry
 * them) or as ms since 1970, between the years 1715 and 2285 (where µs since 2000 are still exact
 * numbers).
 */
export function binaryCopy(rows: readonly Readonly<Record<string, unknown>>[], columns: readonly CopyColumn[]): Buffer {
  const out = new CopyWriter(HEADER.length + rows.length * (2 + columns.length * 4 + 256) + 2);
  out.bytes(HEADER);
  // Per column, the last timestamp text read and its time: a batch's rows share a period start
  // and, within a millisecond, a creation time, and Date.parse is the dearest step here.
  const lastTimes = columns.map(() => ({ text: '', ms: Number.NaN }));
  for (const row of rows) {
    out.int16(columns.length);
    for (let i = 0; i < columns.length; i++) {
      const { name, type } = columns[i]!;
      const value = row[name];
      if (value === null || value === undefined) {
        out.int32(-1);
        continue;
      }
      switch (type) {
        case 'text':
          if (typeof value !== 'string') fail(name, type, value);
          out.text(value);
          break;
        case 'uuid':
          if (typeof value !== 'string' || !UUID.test(value)) fail(name, type, value);
          out.uuid(value);
          break;
        case 'int4':
          if (!Number.isInteger(value) || (value as number) < -(2 ** 31) || (value as number) >= 2 ** 31) fail(name, type, value);
          out.int32(4);
          out.int32(value as number);
          break;
        case 'int8':
          if (!Number.isSafeInteger(value)) fail(name, type, value);
          out.int32(8);
          out.int64(value as number);
          break;
        case 'timestamptz': {
          let ms = Number.NaN;
          if (typeof value === 'number') ms = value;
          else if (typeof value === 'string') {
            const last = lastTimes[i]!;
            if (value !== last.text) {
              last.text = value;
              // Date.parse reads other forms too, some in local time: ISO 8601 with a zone only.
              last.ms = ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
            }
            ms = last.ms;
          }
          // µs since 2000 stay exact numbers from the year 1715 to 2285; usage is timed now.
          const us = Math.round((ms - PG_EPOCH_MS) * 1000);
          if (!Number.isSafeInteger(us)) fail(name, type, value);
          out.int32(8);
          out.int64(us);
          break;
        }
      }
    }
  }
  out.int16(-1);
  return out.done();
}

/** `copy "table" ("a", "b") from <source> with (format binary)`: the statement that loads `binaryCopy`'s rows. */
export function copyStatement(table: string, columns: readonly CopyColumn[], source: string): string {
  return `copy ${quoteName(table)} (${columns.map((c) => quoteName(c.name)).join(', ')}) from ${source} with (format binary)`;
}

function quoteName(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function fail(column: string, type: CopyType, value: unknown): never {
  throw new UnstorableValueError(`binary COPY: column ${column} (${type}) cannot hold ${shown(value)}`);
}

/** A value as JSON for an error message, cut at 200 characters (the message is logged and kept with a refused event). */
function shown(value: unknown): string {
  const json = JSON.stringify(value);
  return json.length > 200 ? `${json.slice(0, 200)}…` : json;
}

/** A growing buffer written front to back, big-endian as COPY wants. */
class CopyWriter {
  #buf: Buffer;
  #view: DataView;
  #at = 0;

  constructor(size: number) {
    this.#buf = Buffer.allocUnsafe(size);
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.length);
  }

  bytes(bytes: readonly number[]): void {
    this.#room(bytes.length);
    for (const b of bytes) this.#buf[this.#at++] = b;
  }

  int16(n: number): void {
    this.#room(2);
    this.#view.setInt16(this.#at, n);
    this.#at += 2;
  }

  int32(n: number): void {
    this.#room(4);
    this.#view.setInt32(this.#at, n);
    this.#at += 4;
  }

  /** A safe integer as a signed 64-bit one: its high 32 bits (signed), then its low 32. */
  int64(n: number): void {
    this.#room(8);
    const high = Math.floor(n / TWO_32);
    this.#view.setInt32(this.#at, high);
    this.#view.setUint32(this.#at + 4, n - high * TWO_32);
    this.#at += 8;
  }

  /** Length, then the UTF-8 bytes. */
  text(s: string): void {
    this.#room(4 + s.length * 3);
    const length = this.#buf.write(s, this.#at + 4, 'utf8');
    this.#view.setInt32(this.#at, length);
    this.#at += 4 + length;
  }

  /** Length 16, then the 16 bytes its 32 hex digits stand for (dashes at 8, 13, 18, 23). */
  uuid(s: string): void {
    this.#room(20);
    this.#view.setInt32(this.#at, 16);
    const at = this.#at + 4;
    this.#buf.write(s.slice(0, 8), at, 'hex');
    this.#buf.write(s.slice(9, 13), at + 4, 'hex');
    this.#buf.write(s.slice(14, 18), at + 6, 'hex');
    this.#buf.write(s.slice(19, 23), at + 8, 'hex');
    this.#buf.write(s.slice(24, 36), at + 10, 'hex');
    this.#at += 20;
  }

  done(): Buffer {
    return this.#buf.subarray(0, this.#at);
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#at + n));
    this.#buf.copy(grown, 0, 0, this.#at);
    this.#buf = grown;
    this.#view = new DataView(grown.buffer, grown.byteOffset, grown.length);
  }
}
