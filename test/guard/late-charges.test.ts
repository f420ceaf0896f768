import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { ScopedBudget } from '../../src/budget/scopes.js';
import type { LateChargeOutcome } from '../../src/budget/spend-store.js';
import type { Db } from '../../src/db/client.js';
import { insertLedgerEvents, ledgerSeed } from '../../src/db/ledger.js';
import { LateCharges } from '../../src/guard/late-charges.js';
import { encodeUsage } from '../../src/ledger/usage-event.js';
import type { Logger } from '../../src/logger.js';
import { forEachDatabase } from '../support/databases.js';
import { usageRecord } from '../support/ledger.js';
import { tenantId } from '../support/tenants.js';

// LateCharges against a real ledger, with a store that keeps its buckets in a Map (the Redis
// store's own side is test/store/redis-late-charge.test.ts).

const period = { startMs: Date.UTC(2030, 0, 1), endMs: Date.UTC(2030, 1, 1) };

interface Bucket {
  spend: number;
  snapshot: string;
  charged: Set<string>;
}

/** `beforeCharge` runs as a late charge reaches the store, before the store looks at it. */
function setup(db: Db, beforeCharge: () => Promise<void> = async () => {}) {
  const buckets = new Map<string, Bucket>();
  const errors: string[] = [];
  let nowMs = Date.UTC(2030, 0, 2);
  const seed = async (b: ScopedBudget) => {
    if (buckets.has(b.key)) return;
    const { total, snapshot } = await ledgerSeed(db, b.ledger, b.unit, b.period);
    if (!buckets.has(b.key)) buckets.set(b.key, { spend: total, snapshot, charged: new Set() });
  };
  const store = {
    seededFrom: async (key: string) => buckets.get(key)?.snapshot,
    lateCharge: async (key: string, requestId: string, amount: number, snapshot: string): Promise<LateChargeOutcome> => {
      await beforeCharge();
      const bucket = buckets.get(key);
      if (bucket?.snapshot !== snapshot) return 'seeded-anew';
      if (bucket.charged.has(requestId)) return 'charged-before';
      bucket.charged.add(requestId);
      bucket.spend += amount;
      return 'charged';
    },
  };
  const logger = { info: () => {}, warn: () => {}, error: (_: unknown, msg: string) => errors.push(msg) } as unknown as Logger;
  const late = new LateCharges({ store, db, seed, logger, now: () => nowMs });
  const tenant = tenantId();
  // What LateCharges reads of a budget: its bucket, and the ledger rows it sums.
  const budget = { key: `tenant:${tenant}:usd`, unit: 'usd', period, ledger: { kind: 'tenant', tenantId: tenant } } as ScopedBudget;
  const write = (requestId: string, costMicros: number) =>
    insertLedgerEvents(db, [encodeUsage(usageRecord(requestId, { tenantId: tenant, costMicros, periodStartedAtMs: period.startMs, createdAtMs: period.startMs + 1 }))]);
  return { late, budget, buckets, errors, seed, write, spend: () => buckets.get(budget.key)?.spend, later: (ms: number) => (nowMs += ms) };
}

forEachDatabase('late charges', (t) => {
  it('charges a request whose row reached the ledger after the rebuild read it, once', async () => {
    const { late, budget, seed, write, spend } = setup(t.db);
    await write(randomUUID(), 5);
    await seed(budget);
    const id = randomUUID();
    await write(id, 7);
    late.add(id, budget, 7);
    late.add(id, budget, 7); // a settle and its replay both found the bucket gone
    await late.run();
    expect(spend()).toBe(12);
    expect(late.size).toBe(0);
    await late.run();
    expect(spend()).toBe(12);
  });

  it('charges nothing for a request the rebuild counted, seeding the bucket itself if need be', async () => {
    const { late, budget, write, spend } = setup(t.db);
    const id = randomUUID();
    await write(id, 7);
    late.add(id, budget, 7);
    await late.run();
    expect(spend()).toBe(7);
    expect(late.size).toBe(0);
  });

  it('waits for a row the ledger does not hold yet, and gives up on it after an hour', async () => {
    const { late, budget, seed, write, spend, errors, later } = setup(t.db);
    await seed(budget);
    const [waited, lost] = [randomUUID(), randomUUID()];
    late.add(waited, budget, 3);
    late.add(lost, budget, 4);
    await late.run();
    expect(late.size).toBe(2);
    await write(waited, 3);
    later(60_000);
    await late.run();
    expect(spend()).toBe(3);
    expect(late.size).toBe(1);
    later(3_600_000);
    await late.run();
    expect(late.size).toBe(0);
    expect(spend()).toBe(3);
    expect(errors).toEqual(['late charge given up: its usage never reached the ledger']);
  });

  it('looks once more when it stops, so usage written meanwhile is not lost with the process', async () => {
    const { late, budget, seed, write, spend } = setup(t.db);
    await seed(budget);
    const id = randomUUID();
    late.add(id, budget, 9);
    await write(id, 9);
    await late.stop();
    expect(spend()).toBe(9);
  });

  it('goes by the seed the bucket has now, when it was rebuilt again meanwhile', async () => {
    let rebuilt = false;
    const { late, budget, buckets, seed, write, spend } = setup(t.db, async () => {
      if (rebuilt) return;
      rebuilt = true;
      // Lost and rebuilt again just as the charge arrives, now from a ledger that holds the row.
      buckets.delete(budget.key);
      await seed(budget);
    });
    await seed(budget);
    const id = randomUUID();
    await write(id, 6);
    late.add(id, budget, 6);
    await late.run();
    expect(rebuilt).toBe(true);
    expect(late.size).toBe(1); // refused: seeded anew
    await late.run();
    expect(late.size).toBe(0); // and the new seed counted it
    expect(spend()).toBe(6);
  });
});
