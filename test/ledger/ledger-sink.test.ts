import { DrizzleQueryError } from 'drizzle-orm/errors';
import { describe, expect, it } from 'vitest';
import { UnstorableValueError } from '../../src/db/copy-binary.js';
import { isUnwritableRow } from '../../src/db/errors.js';
import type { RefusedEvent } from '../../src/db/ledger.js';
import { writeSplitting } from '../../src/ledger/ledger-sink.js';

/** PostgreSQL's error for a row it refuses, as the drivers raise it (the SQLSTATE in `code`). */
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

/**
 * A table that refuses any statement holding one of `bad` (as COPY does: all or nothing), with
 * `refusal`, and records the statements it took.
 */
function table(bad: ReadonlySet<string>, refusal: (event: string) => unknown = () => pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00')) {
  const rows: string[] = [];
  let statements = 0;
  const write = async (events: readonly string[]): Promise<number> => {
    statements++;
    const refused = events.find((e) => bad.has(e));
    if (refused !== undefined) throw refusal(refused);
    rows.push(...events);
    return events.length;
  };
  return { write, rows, statements: () => statements };
}

const events = (n: number) => Array.from({ length: n }, (_, i) => `e${i}`);

describe('writeSplitting', () => {
  it('writes a batch the table takes in one statement', async () => {
    const t = table(new Set());
    const refused: RefusedEvent[] = [];
    expect(await writeSplitting(events(500), t.write, refused)).toBe(500);
    expect(t.statements()).toBe(1);
    expect(refused).toEqual([]);
  });

  it('sets aside exactly the events refused on their own, with the reason, and writes every other one once', async () => {
    for (const bad of [['e0'], ['e499'], ['e137'], ['e1', 'e2', 'e250', 'e498'], events(500)]) {
      const t = table(new Set(bad));
      const refused: RefusedEvent[] = [];
      expect(await writeSplitting(events(500), t.write, refused)).toBe(500 - bad.length);
      expect(refused.map((r) => r.event)).toEqual(bad);
      expect(refused.every((r) => r.reason === '22021: invalid byte sequence for encoding "UTF8": 0x00')).toBe(true);
      expect(t.rows.sort()).toEqual(events(500).filter((e) => !bad.includes(e)).sort());
    }
  });

  it('finds one bad event of 500 in about 2·log2(500) statements', async () => {
    const t = table(new Set(['e321']));
    await writeSplitting(events(500), t.write, []);
    expect(t.statements()).toBeLessThanOrEqual(1 + 2 * Math.ceil(Math.log2(500)));
  });

  it('reads the refusal through drizzle and across the database thread (where only the name is left)', async () => {
    const wrapped = (event: string) => new DrizzleQueryError('insert into "usage_ledger" ...', [], pgError('22P02', `invalid input syntax for type uuid: "${event}"`));
    const crossed = () => Object.assign(new Error('binary COPY: column request_id (uuid) cannot hold "x"'), { name: 'UnstorableValueError' });
    for (const [refusal, reason] of [
      [wrapped, '22P02: invalid input syntax for type uuid: "e3"'],
      [crossed, 'binary COPY: column request_id (uuid) cannot hold "x"'],
      [() => new UnstorableValueError('binary COPY: a row is not JSON'), 'binary COPY: a row is not JSON'],
    ] as const) {
      const refused: RefusedEvent[] = [];
      expect(await writeSplitting(events(8), table(new Set(['e3']), refusal).write, refused)).toBe(7);
      expect(refused).toEqual([{ event: 'e3', reason }]);
    }
  });

  it('fails the whole batch, setting nothing aside, when the database is away or fails for another reason', async () => {
    for (const failure of [
      pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'),
      pgError('53100', 'could not extend file: No space left on device'),
      pgError('23505', 'duplicate key value violates unique constraint "usage_ledger_pkey"'),
      new TypeError("Cannot read properties of undefined (reading 'write')"),
    ]) {
      const t = table(new Set(['e3']), () => failure);
      const refused: RefusedEvent[] = [];
      await expect(writeSplitting(events(8), t.write, refused)).rejects.toBe(failure);
      expect(t.statements()).toBe(1);
      expect(refused).toEqual([]);
      expect(t.rows).toEqual([]);
    }
  });

  it('stops at an outage met half-way, so the pipeline retries the batch whole', async () => {
    let statements = 0;
    const write = async (batch: readonly string[]): Promise<number> => {
      statements++;
      if (statements === 1) throw pgError('23502', 'null value in column "tenant_id" violates not-null constraint');
      throw pgError('57P01', 'terminating connection due to administrator command');
    };
    const refused: RefusedEvent[] = [];
    await expect(writeSplitting(events(4), write, refused)).rejects.toMatchObject({ code: '57P01' });
    expect(refused).toEqual([]);
  });
});

describe('isUnwritableRow', () => {
  it('is true for values the table cannot hold, whichever side refused them', () => {
    expect(isUnwritableRow(new UnstorableValueError('x'))).toBe(true);
    expect(isUnwritableRow(Object.assign(new Error('x'), { name: 'UnstorableValueError' }))).toBe(true);
    for (const code of ['22021', '22P02', '22003', '22007', '23502', '23514', '23503']) expect(isUnwritableRow(pgError(code, 'x'))).toBe(true);
  });

  it('is false for a replay (the unique key), an unreachable or failing database, and errors of our own', () => {
    for (const code of ['23505', '08006', '57P01', '53100', '40001', 'ECONNREFUSED', 'CONNECTION_CLOSED']) expect(isUnwritableRow(pgError(code, 'x'))).toBe(false);
    expect(isUnwritableRow(new TypeError('x'))).toBe(false);
    expect(isUnwritableRow(new SyntaxError('x'))).toBe(false);
    expect(isUnwritableRow(undefined)).toBe(false);
  });
});
