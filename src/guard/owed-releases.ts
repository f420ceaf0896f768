import type { SpendStore } from '../budget/spend-store.js';
import { repeatedLogs, type Logger } from '../logger.js';
import { RetryLoop } from '../retry-loop.js';

/** How often releases owed to the store are tried again. */
const EVERY_MS = 1_000;
/** Releases kept at most (a reservation id and its bucket keys each). */
const MAX_OWED = 100_000;

/**
 * Reservations given back whole whose release the store did not take (Redis away): the rest of a
 * lease that ran out, the reservation of a request that failed upstream. Left to themselves they
 * would hold their room until RESERVATION_TTL_MS expires them (15 minutes by default), and a
 * tenant near its line would be refused for room nobody uses; so they are tried again every
 * second until the store takes them. A whole release is idempotent (a reservation already gone is
 * left alone), so one whose first try ran although its answer was lost does no harm. Each waits
 * for the settles owed to the store first (`settlesOwed`): a settle replayed into a bucket that no
 * longer holds its reservation is taken as counted already, and would not be charged.
 */
export class OwedReleases {
  readonly #owed = new Map<string, readonly string[]>();
  readonly #retry = new RetryLoop(EVERY_MS, () => this.flush(), () => this.#owed.size > 0);

  constructor(
    private readonly store: Pick<SpendStore, 'release'>,
    private readonly logger: Logger,
    /** How many settles are still owed to the store (the releases wait for them). */
    private readonly settlesOwed: () => number,
  ) {}

  /** Settles are owed to the store: a reservation given back now would not be charged by their replays, so it waits here. */
  behindSettles(): boolean {
    return this.settlesOwed() > 0;
  }

  get size(): number {
    return this.#owed.size;
  }

  add(id: string, keys: readonly string[]): void {
    if (this.#owed.size >= MAX_OWED && !this.#owed.has(id)) {
      repeatedLogs(this.logger).error({ owed: this.#owed.size }, 'too many releases owed to the budget store: their room is held until RESERVATION_TTL_MS');
      return;
    }
    this.#owed.set(id, keys);
    this.#retry.ask();
  }

  /** Sends what is owed, in order, while the store takes it; resolves with how many it took. */
  async flush(): Promise<number> {
    if (this.#owed.size === 0 || this.behindSettles()) return 0;
    let released = 0;
    for (const [id, keys] of this.#owed) {
      try {
        await this.store.release(id, keys);
      } catch (err) {
        repeatedLogs(this.logger).warn({ err: (err as Error).message, owed: this.#owed.size }, 'budget store release failed');
        break;
      }
      this.#owed.delete(id);
      released++;
    }
    return released;
  }

  /** No more tries after this (shutdown, which flushes once itself). */
  stop(): Promise<void> {
    return this.#retry.stop();
  }
}
