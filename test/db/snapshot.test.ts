import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/client.js';
import { insertLedgerEvents, ledgerSeed, ledgerWriters } from '../../src/db/ledger.js';
import { seenInSnapshot } from '../../src/db/snapshot.js';
import { encodeUsage } from '../../src/ledger/usage-event.js';
import { forEachDatabase, openTestDatabase, type TestDatabase } from '../support/databases.js';
import { usageRecord } from '../support/ledger.js';
import { tenantId } from '../support/tenants.js';

describe('seenInSnapshot', () => {
  // xmin 100, xmax 110, 103 and 107 in progress.
  const snapshot = '100:110:103,107';

  it('sees transactions that had finished before the snapshot, and no others', () => {
    expect(seenInSnapshot(snapshot, '99')).toBe(true);
    expect(seenInSnapshot(snapshot, '100')).toBe(true);
    expect(seenInSnapshot(snapshot, '105')).toBe(true);
    expect(seenInSnapshot(snapshot, '103')).toBe(false);
    expect(seenInSnapshot(snapshot, '107')).toBe(false);
    expect(seenInSnapshot(snapshot, '110')).toBe(false);
    expect(seenInSnapshot(snapshot, '5000')).toBe(false);
    expect(seenInSnapshot('100:100:', '100')).toBe(false);
    expect(seenInSnapshot('100:100:', '99')).toBe(true);
  });

  it('places a 32-bit id in the snapshot\'s epoch, either side of a wraparound', () => {
    const epoch = 2n ** 32n;
    // The snapshot just past a wraparound (epoch 3): a row written just before it reads 4294967290.
    const after = `${3n * epoch + 5n}:${3n * epoch + 10n}:${3n * epoch + 7n}`;
    expect(seenInSnapshot(after, '4294967290')).toBe(true);
    expect(seenInSnapshot(after, '7')).toBe(false);
    expect(seenInSnapshot(after, '8')).toBe(true);
    expect(seenInSnapshot(after, '12')).toBe(false);
    // Just before one: a row written just after it reads 3.
    const before = `${3n * epoch - 20n}:${3n * epoch - 10n}:`;
    expect(seenInSnapshot(before, '3')).toBe(false);
    expect(seenInSnapshot(before, String(epoch - 25n))).toBe(true);
  });

  it('takes ids below 3 (bootstrap, frozen) as written before everything', () => {
    expect(seenInSnapshot(snapshot, '2')).toBe(true);
  });
});

const period = { startMs: Date.UTC(2030, 0, 1), endMs: Date.UTC(2030, 1, 1) };

/** A usage event of the tenant's in `period`, and its request id. */
function write(tenant: string, costMicros: number): { requestId: string; event: string } {
  const requestId = randomUUID();
  const event = encodeUsage(usageRecord(requestId, { tenantId: tenant, costMicros, periodStartedAtMs: period.startMs, createdAtMs: period.startMs + 1 }));
  return { requestId, event };
}

forEachDatabase('a ledger total and the rows its snapshot saw', (t) => {
  it('tells the rows the total counted from those written after it', async () => {
    const tenant = tenantId();
    const before = write(tenant, 5);
    await insertLedgerEvents(t.db, [before.event]);
    const seed = await ledgerSeed(t.db, { kind: 'tenant', tenantId: tenant }, 'usd', period);
    expect(seed.total).toBe(5);
    const after = write(tenant, 7);
    await insertLedgerEvents(t.db, [after.event]);
    const writers = await ledgerWriters(t.db, [before.requestId, after.requestId, randomUUID()]);
    expect(writers.size).toBe(2);
    expect(seenInSnapshot(seed.snapshot, writers.get(before.requestId)!)).toBe(true);
    expect(seenInSnapshot(seed.snapshot, writers.get(after.requestId)!)).toBe(false);
  });
});

// A transaction beside another needs two connections: PostgreSQL's (a PGlite folder has one).
describe.skipIf(!process.env.TEST_DATABASE_URL)(`a ledger total read while a write is in progress [postgres]${process.env.TEST_DATABASE_URL ? '' : ' (set TEST_DATABASE_URL to run)'}`, () => {
  let test: TestDatabase;
  const others: Database[] = [];
  beforeAll(async () => {
    test = await openTestDatabase('postgres');
  });
  afterAll(async () => {
    await Promise.all(others.map((d) => d.close()));
    await test?.close();
  });

  it('does not count a write that was in progress while the total was read, and committed after', async () => {
    const tenant = tenantId();
    const other = await openDatabase(test.options);
    others.push(other);
    const row = write(tenant, 9);
    let commit!: () => void;
    const committed = new Promise<void>((resolve) => (commit = resolve));
    let written!: () => void;
    const inserted = new Promise<void>((resolve) => (written = resolve));
    const writing = other.db.transaction(async (tx) => {
      await insertLedgerEvents(tx, [row.event]);
      written();
      await committed;
    });
    await inserted;
    // A later transaction that finished first: the snapshot's xmax moves past the one in
    // progress, which the snapshot then lists as such.
    await insertLedgerEvents(test.database.db, [write(tenantId(), 1).event]);
    const seed = await ledgerSeed(test.database.db, { kind: 'tenant', tenantId: tenant }, 'usd', period);
    expect(seed.total).toBe(0);
    commit();
    await writing;
    const writers = await ledgerWriters(test.database.db, [row.requestId]);
    expect(seenInSnapshot(seed.snapshot, writers.get(row.requestId)!)).toBe(false);
    // Read again now, the total counts it, and its snapshot says so.
    const again = await ledgerSeed(test.database.db, { kind: 'tenant', tenantId: tenant }, 'usd', period);
    expect(again.total).toBe(9);
    expect(seenInSnapshot(again.snapshot, writers.get(row.requestId)!)).toBe(true);
  });
});
