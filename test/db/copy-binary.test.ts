import { PGlite } from '@electric-sql/pglite';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binaryCopy, binaryCopyObjects, UnstorableValueError, type CopyColumn } from '../../src/db/copy-binary.js';

const COLUMNS: CopyColumn[] = [
  { name: 'id', type: 'uuid' },
  { name: 'label', type: 'text' },
  { name: 'small', type: 'int4' },
  { name: 'big', type: 'int8' },
  { name: 'at', type: 'timestamptz' },
];
const NAMES = COLUMNS.map((c) => c.name).join(', ');

/** Text PostgreSQL holds: any Unicode but NUL (lone surrogates are written as U+FFFD, as it would store them). */
const storableText = fc.string({ unit: 'binary' }).map((s) => s.replaceAll('\u0000', ''));
/** Times whose µs since 2000 are exact numbers (1715 to 2285), to the millisecond. */
const time = fc.date({ min: new Date('1716-01-01T00:00:00Z'), max: new Date('2284-12-31T23:59:59.999Z'), noInvalidDate: true });
const row = fc.record({
  id: fc.option(fc.uuid(), { nil: null }),
  label: fc.option(storableText, { nil: null }),
  small: fc.option(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { nil: null }),
  big: fc.option(fc.maxSafeInteger(), { nil: null }),
  // As the usage events carry it (ISO text), or as milliseconds.
  at: fc.option(fc.oneof(time.map((d) => d.toISOString()), time.map((d) => d.getTime())), { nil: null }),
});

describe('binaryCopy: rows in COPY binary format', () => {
  let db: PGlite;
  beforeAll(async () => {
    db = await PGlite.create();
    await db.exec(`set time zone 'UTC'; create table t (id uuid, label text, small int4, big int8, at timestamptz)`);
  });
  afterAll(async () => {
    await db.close();
  });

  async function load(bytes: Buffer): Promise<void> {
    await db.exec('truncate t');
    await db.query(`copy t (${NAMES}) from '/dev/blob' with (format binary)`, [], { blob: new Blob([bytes]) });
  }

  async function dump(): Promise<Buffer> {
    const { blob } = await db.query(`copy t (${NAMES}) to '/dev/blob' with (format binary)`);
    return Buffer.from(await blob!.arrayBuffer());
  }

  it("writes byte for byte what PostgreSQL's own COPY TO writes for the rows it loaded", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(row, { maxLength: 40 }), async (rows) => {
        const bytes = binaryCopy(rows, COLUMNS);
        await load(bytes);
        expect((await dump()).equals(bytes)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('loads each value as PostgreSQL reads it from text', async () => {
    const rows = [
      { id: '01A20BDF-50C1-79FB-8E58-6E48EF4D68F1', label: 'ümlaut "quoted", comma\nline\\tab 😀', small: -(2 ** 31), big: -(2 ** 53) + 1, at: '1999-12-31T23:59:59.999Z' },
      { id: '00000000-0000-0000-0000-000000000000', label: '', small: 2 ** 31 - 1, big: 2 ** 53 - 1, at: '2026-11-24T12:34:56.789+02:00' },
      { id: null, label: 'lone \ud800 surrogate', small: 0, big: 0, at: Date.UTC(2000, 0, 1) },
      { id: 'ffffffff-ffff-ffff-ffff-ffffffffffff', label: 'x'.repeat(200_000), small: null, big: null, at: '2026-11-24T00:00:00.123Z' },
      { id: null, label: null, small: null, big: null, at: Date.UTC(2284, 11, 31, 23, 59, 59, 999) },
    ];
    await load(binaryCopy(rows, COLUMNS));
    const read = await db.query<Record<string, unknown>>(
      `select id::text, label, small, big::text, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') as at from t`,
    );
    expect(read.rows).toEqual([
      { id: '01a20bdf-50c1-79fb-8e58-6e48ef4d68f1', label: rows[0]!.label, small: -(2 ** 31), big: String(-(2 ** 53) + 1), at: '1999-12-31T23:59:59.999000' },
      { id: '00000000-0000-0000-0000-000000000000', label: '', small: 2 ** 31 - 1, big: String(2 ** 53 - 1), at: '2026-11-24T10:34:56.789000' },
      { id: null, label: 'lone \ufffd surrogate', small: 0, big: '0', at: '2000-01-01T00:00:00.000000' },
      { id: 'ffffffff-ffff-ffff-ffff-ffffffffffff', label: 'x'.repeat(200_000), small: null, big: null, at: '2026-11-24T00:00:00.123000' },
      { id: null, label: null, small: null, big: null, at: '2284-12-31T23:59:59.999000' },
    ]);
  });

  it("refuses a value its column's type cannot hold, naming the column", () => {
    const good = { id: '01a20bdf-50c1-79fb-8e58-6e48ef4d68f1', label: 'a', small: 1, big: 1, at: '2026-11-24T00:00:00Z' };
    const bad: [string, unknown][] = [
      ['id', 'not-a-uuid'],
      ['id', '01a20bdf50c179fb8e586e48ef4d68f1'],
      ['id', 42],
      ['label', 42],
      ['small', 1.5],
      ['small', 2 ** 31],
      ['small', '1'],
      ['big', 2 ** 53],
      ['big', Number.NaN],
      ['at', '2026-11-24 00:00:00'], // no zone: Date.parse would read it in local time
      ['at', '2026-11-24T00:00:00.123456Z'], // finer than Date.parse keeps
      ['at', 'Tuesday'],
      ['at', '2286-01-01T00:00:00Z'], // past 2^53 µs since 2000
      ['at', Date.UTC(1700, 0, 1)],
      ['at', Number.POSITIVE_INFINITY],
      ['at', true],
    ];
    for (const [column, value] of bad) {
      expect(() => binaryCopy([good, { ...good, [column]: value }], COLUMNS), `${column} = ${String(value)}`).toThrow(
        new RegExp(`column ${column} \\(`),
      );
    }
    expect(() => binaryCopy([good], COLUMNS)).not.toThrow();
    // Refusals are logged and kept with a refused usage event: a huge value is cut short.
    expect(() => binaryCopy([{ ...good, label: 'x'.repeat(100_000) }, { ...good, small: 'y'.repeat(100_000) }], COLUMNS)).toThrow(/^binary COPY: column small \(int4\) cannot hold "y{199}…$/);
  });

  it('refuses a text that is not exactly one JSON object, as it refuses a bad value, and never reads it as another number of rows', () => {
    const good = JSON.stringify({ id: null, label: 'a', small: 1, big: 1, at: null });
    expect(binaryCopyObjects([good, good], COLUMNS).rows).toBe(2);
    for (const [text, message] of [
      ['{"id":null', /^binary COPY: a row is not JSON/],
      [`${good},${good}`, /^binary COPY: a row is not JSON/],
      [`[${good}]`, /^binary COPY: a row is not a JSON object: \[\{/],
      ['null', /^binary COPY: a row is not a JSON object: null$/],
      ['[1,2]', /^binary COPY: a row is not a JSON object: \[1,2\]$/],
    ] as const) {
      expect(() => binaryCopyObjects([good, text], COLUMNS), text).toThrow(UnstorableValueError);
      expect(() => binaryCopyObjects([good, text], COLUMNS), text).toThrow(message);
    }
  });

  it('leaves a NUL in text for the database to refuse, so the load fails whole', async () => {
    await expect(load(binaryCopy([{ id: null, label: 'a\u0000b', small: 1, big: 1, at: null }], COLUMNS))).rejects.toThrow(/0x00/);
  });
});
