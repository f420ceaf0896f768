import { setTimeout as wait } from 'node:timers/promises';
import type { ScopedBudget } from '../budget/scopes.js';
import type { SpendStore } from '../budget/spend-store.js';
import type { Db } from '../db/client.js';
import { ledgerWriters } from '../db/ledger.js';
import { seenInSnapshot } from '../db/snapshot.js';
import { repeatedLogs, type Logger } from '../logger.js';
import { RetryLoop } from '../retry-loop.js';

/** How often the charges waiting are looked at. */
const EVERY_MS = 1_000;
/**
 * How long a charge waits for its usage to reach the ledger: the ledger consumer writes within a
 * second or two, or when a PostgreSQL outage ends.
 */
const GIVE_UP_MS = 3_600_000;
/** Charges kept waiting at most (a few hundred bytes each). */
const MAX_WAITING = 100_000;
/** Charges looked at in one pass at most: one ledger query holds their request ids. */
const PER_PASS = 5_000;
/** How long the last look at shutdown may take. */
const LAST_LOOK_MS = 2_000;

interface LateCharge {
  readonly requestId: string;
  readonly budget: ScopedBudget;
  readonly amount: number;
  readonly sinceMs: number;
}

export interface LateChargeDeps {
  readonly store: Required<Pick<SpendStore, 'seededFrom' | 'lateCharge'>>;
  readonly db: Db;
  /** Makes a bucket known from the ledger (BudgetGuard.seed), unless it is known already. */
  readonly seed: (budget: ScopedBudget) => Promise<void>;
  readonly logger: Logger;
  readonly now?: () => number;
}

/**
 * The charges of requests whose settle found a bucket the store had lost (Redis emptied or
 * restarted under them, before this replica rebuilt that bucket): their usage went on to the
 * ledger, their charge to no counter. The bucket is rebuilt from the ledger, which holds that
 * usage only if the ledger consumer wrote it before the rebuild read the ledger. So, once the
 * usage is in the ledger, each is charged to the rebuilt bucket if the snapshot its seed was read
 * in did not see the row (src/db/snapshot.ts), once per request; and not if it did.
 */
export class LateCharges {
  readonly #waiting = new Map<string, LateCharge>();
  readonly #retry = new RetryLoop(EVERY_MS, () => this.run(), () => this.#waiting.size > 0);
  readonly #now: () => number;

  constructor(private readonly deps: LateChargeDeps) {
    this.#now = deps.now ?? Date.now;
  }

  get size(): number {
    return this.#waiting.size;
  }

  add(requestId: string, budget: ScopedBudget, amount: number): void {
    if (amount <= 0) return;
    if (this.#waiting.size >= MAX_WAITING) {
      repeatedLogs(this.deps.logger).error(
        { waiting: this.#waiting.size },
        'too many late charges waiting for the ledger: this usage is in the ledger, but not in the spend counters',
      );
      return;
    }
    this.#waiting.set(`${requestId} ${budget.key}`, { requestId, budget, amount, sinceMs: this.#now() });
    this.#retry.ask();
  }

  /** Settles what can be settled now (of the oldest 5,000 waiting): charged, found counted, or given up. */
  async run(): Promise<void> {
    const waiting = [...take(this.#waiting, PER_PASS)];
    if (waiting.length === 0) return;
    const { store, db, seed, logger } = this.deps;
    let charged = 0;
    try {
      const writers = await ledgerWriters(db, [...new Set(waiting.map(([, c]) => c.requestId))]);
      const snapshots = new Map<string, string | undefined>();
      for (const [id, charge] of waiting) {
        const xid = writers.get(charge.requestId);
        if (xid === undefined) {
          if (this.#now() - charge.sinceMs < GIVE_UP_MS) continue;
          this.#waiting.delete(id);
          repeatedLogs(logger).error({ requestId: charge.requestId, bucket: charge.budget.key }, 'late charge given up: its usage never reached the ledger');
          continue;
        }
        const key = charge.budget.key;
        if (!snapshots.has(key)) {
          await seed(charge.budget);
          snapshots.set(key, await store.seededFrom(key));
        }
        const snapshot = snapshots.get(key);
        // A bucket seeded without a snapshot (or gone already, its period long over): nothing to go by.
        if (snapshot === undefined || seenInSnapshot(snapshot, xid)) {
          this.#waiting.delete(id);
          continue;
        }
        const outcome = await store.lateCharge(key, charge.requestId, charge.amount, snapshot);
        // Seeded anew meanwhile: looked at again against the new seed.
        if (outcome === 'seeded-anew') snapshots.delete(key);
        else this.#waiting.delete(id);
        if (outcome === 'charged') charged++;
      }
    } catch (err) {
      repeatedLogs(logger).warn({ err: (err as Error).message, waiting: this.#waiting.size }, 'late charges: store or database unreachable, trying again');
    }
    if (charged > 0) logger.info({ charged }, 'charged usage that settled while its bucket was lost, and that the rebuilt bucket did not count');
  }

  /**
   * Stops looking (shutdown), after one last look within 2 s: a charge whose usage reached the
   * ledger meanwhile is settled now rather than lost with the process.
   */
  async stop(): Promise<void> {
    await this.#retry.stop();
    if (this.#waiting.size > 0) await Promise.race([this.run(), wait(LAST_LOOK_MS, undefined, { ref: false })]);
  }
}

function* take<K, V>(map: ReadonlyMap<K, V>, n: number): Generator<[K, V]> {
  if (n <= 0) return;
  for (const entry of map) {
    yield entry;
    if (--n === 0) return;
  }
}
