import { costFromUsage, parseResponseCost, type ModelPrice } from '../budget/cost.js';
import type { ScopedBudget } from '../budget/scopes.js';
import type { BucketCharge, SettleOptions, SpendStore } from '../budget/spend-store.js';
import { encodeUsage, type CostSource, type UsageRecord } from '../ledger/usage-event.js';
import { repeatedLogs, type Logger } from '../logger.js';
import { counterChildren, type Metrics } from '../metrics.js';
import type { Usage } from '../proxy/usage-tap.js';
import type { Admission, BudgetGuard } from './budget-guard.js';
import type { LateCharges } from './late-charges.js';
import type { OwedReleases } from './owed-releases.js';
import type { PriceBook } from './price-book.js';
import { RetryLoop } from '../retry-loop.js';
import { RecentUsage } from './recent-usage.js';

/** A settle of a request that holds a reservation: the usual case, one object for all of them. */
const NORMAL: SettleOptions = {};

/** Settles kept for the store while it is away (about 50 MB at most). */
const MAX_OWED_SETTLES = 100_000;
/**
 * How long a usage event the store took is kept here too: longer than the ledger consumer takes
 * to move it from the Redis stream into the database (up to a second gathering a batch, then its
 * write: `redisLedger` in src/services.ts), and than the clocks of Redis and of this replica may
 * differ. For as long as the stream holds older events unwritten (the database away), from then on.
 */
const RECENT_MS = 5_000;
/** Usage events kept at most (about 40 MB, outside the heap). */
const MAX_RECENT = 100_000;
/** How often the stream is asked since when it holds events unwritten. */
const UNWRITTEN_POLL_MS = 1_000;

/** How a proxied request ended, as far as its cost is concerned. */
export interface Completion {
  /** The upstream's status, when its headers arrived. */
  readonly statusCode: number | undefined;
  readonly usage: Usage | undefined;
  /** LiteLLM's `x-litellm-response-cost`. */
  readonly costHeader: string | undefined;
  readonly clientRequestId: string | null;
  readonly endpoint: string;
  readonly model: string | undefined;
}

/** A settle the store could not take yet. */
interface OwedSettle {
  readonly id: string;
  readonly requestId: string;
  readonly budgets: readonly ScopedBudget[];
  readonly charges: readonly BucketCharge[];
  readonly event: string;
  readonly options: SettleOptions;
}

/**
 * The after-half of admission: replace the reservation with the actual cost (or release it) and
 * hand the usage to the ledger. Never awaited by the client's response. When the store cannot be
 * reached, the usage goes straight to the database and the charge is retried until the store
 * takes it, so no usage is lost and spend counters catch up. A charge that finds its bucket lost
 * (the store emptied under it) waits in `LateCharges` for the rebuilt bucket to be checked.
 */
export class Settlement {
  #retries: OwedSettle[] = [];
  readonly #retry = new RetryLoop(1_000, () => this.flush(), () => this.#retries.length > 0);
  readonly #recent = new RecentUsage(RECENT_MS, MAX_RECENT);
  #unwrittenTimer: NodeJS.Timeout | undefined;
  readonly #spend: (tenant: string) => { inc(value: number): void };

  constructor(
    private readonly store: SpendStore,
    private readonly guard: BudgetGuard,
    private readonly prices: PriceBook,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly now: () => number,
    /** Direct path to the database for usage the store could not take (Redis mode only). */
    private readonly writeDirect: ((event: string) => void) | undefined,
    /** Where charges go that found their bucket lost (a store that can lose its data). */
    private readonly late?: LateCharges,
    /** Where a release goes that the store did not take (it was away), to be given back later. */
    private readonly owedReleases?: Pick<OwedReleases, 'add'>,
  ) {
    this.#spend = counterChildren(metrics.tenantSpend);
    const unwrittenSince = store.unwrittenSinceMs?.bind(store);
    if (writeDirect && unwrittenSince) {
      // Usage the stream holds unwritten (the database away) is kept here until it is written:
      // a Redis that dies meanwhile takes it along, and this is then the only copy.
      this.#unwrittenTimer = setInterval(() => {
        unwrittenSince().then(
          (atMs) => this.#recent.holdFrom(atMs ?? Number.POSITIVE_INFINITY),
          () => {}, // Redis away: keep what is held until it can be asked again
        );
      }, UNWRITTEN_POLL_MS);
      this.#unwrittenTimer.unref();
    }
  }

  complete(admission: Admission, completion: Completion): void {
    const served = completion.statusCode !== undefined && completion.statusCode < 400;
    if (!served) {
      if (admission.reserved) {
        // Its own reservation goes whole; a lease only gets back this request's part.
        const keys = admission.budgets.map((b) => b.key);
        const parts = admission.lease ? admission.amounts : undefined;
        this.store.release(admission.reservationId, keys, parts).catch((err: unknown) => {
          this.#warn('budget store release failed', err);
          // Given back later: a part with its lease's whole reservation, a reservation of its own whole.
          if (admission.lease) this.guard.partNotReturned(admission);
          else this.owedReleases?.add(admission.reservationId, keys);
        });
      }
      this.guard.finished(admission);
      return;
    }
    const { micros, source } = actualCost(completion, this.prices.get(completion.model), admission.estimate.micros);
    const record: UsageRecord = {
      requestId: admission.requestId,
      clientRequestId: completion.clientRequestId,
      tenantId: admission.caller.tenant.tenantId,
      keyId: admission.caller.keyId,
      model: completion.model ?? null,
      endpoint: completion.endpoint,
      status: completion.statusCode!,
      promptTokens: completion.usage?.promptTokens ?? 0,
      completionTokens: completion.usage?.completionTokens ?? 0,
      costMicros: micros,
      costSource: source,
      periodStartedAtMs: admission.period.startMs,
      createdAtMs: this.now(),
    };
    const tokens = completion.usage ? record.promptTokens + record.completionTokens : admission.estimate.tokens;
    const charges = admission.budgets.map((b, i) => ({
      key: b.key,
      amount: b.unit === 'usd' ? micros : b.unit === 'tokens' ? tokens : 1,
      release: admission.amounts[i]!,
    }));
    const event = encodeUsage(record);
    this.#spend(this.metrics.tenantLabel(record.tenantId)).inc(micros / 1e6);
    // Admitted without the store: charged once by request, in the store's data of now.
    const options: SettleOptions = admission.reserved ? NORMAL : { unreserved: { generation: this.store.generation() } };
    let settled: readonly (number | undefined)[] | Promise<readonly (number | undefined)[]>;
    try {
      settled = this.store.settle(admission.reservationId, charges, event, options);
    } catch (err) {
      settled = Promise.reject(err);
    }
    // The in-process store answers at once: no promise, no turn of the microtask queue.
    if (settled instanceof Promise) {
      settled.then(
        (after) => this.#settled(admission, charges, event, after, record.createdAtMs),
        (err: unknown) =>
          this.#storeFailed({ id: admission.reservationId, requestId: admission.requestId, budgets: admission.budgets, charges, event, options }, err),
      );
    } else this.#settled(admission, charges, event, settled, record.createdAtMs);
    // Issued before any release of the lease's rest, so the store sees this part returned first.
    this.guard.finished(admission);
  }

  /** Settles still owed to the store (releases owed wait for them: OwedReleases). */
  get settlesOwed(): number {
    return this.#retries.length;
  }

  /**
   * Retries what is still owed to the store once (shutdown calls it last). Their usage is in the
   * ledger already, so each is a replay: a bucket rebuilt from the ledger meanwhile (it no longer
   * holds the reservation, or the store's data is of another generation) is not charged a second
   * time, nor is a request whose first settle ran although its answer was lost.
   */
  async flush(): Promise<void> {
    const owed = this.#retries.splice(0);
    for (const settle of owed) {
      let after: readonly (number | undefined)[];
      try {
        after = await this.store.settle(settle.id, settle.charges, settle.event, { ...settle.options, replay: true });
      } catch {
        this.#retries.push(settle);
        continue;
      }
      this.#chargeLate(settle.requestId, settle.budgets, settle.charges, after);
    }
  }

  /**
   * The store's connection dropped. A Redis without persistence that died took the usage events
   * its stream still held; those settled in the last seconds, or since the stream's oldest
   * unwritten event, are written straight to the database (idempotent on the request id, so the
   * ones already flushed are not counted twice).
   */
  storeLost(): void {
    const recent = this.#recent.drain();
    if (recent.length === 0 || !this.writeDirect) return;
    this.logger.warn({ events: recent.length }, 'budget store connection lost: writing recent usage events straight to the database');
    for (const event of recent) this.writeDirect(event);
  }

  stop(): void {
    void this.#retry.stop();
    clearInterval(this.#unwrittenTimer);
    this.#unwrittenTimer = undefined;
  }

  /** The store took the usage: keep it for a while (Redis mode), and note the spends it left. */
  #settled(admission: Admission, charges: readonly BucketCharge[], event: string, after: readonly (number | undefined)[], atMs: number): void {
    if (this.writeDirect) this.#recent.add(event, Date.now());
    this.guard.noteSpends(admission, after, atMs);
    this.#chargeLate(admission.requestId, admission.budgets, charges, after);
  }

  /** Charges that found their bucket unknown (the store lost it) wait for its rebuild to be checked. */
  #chargeLate(requestId: string, budgets: readonly ScopedBudget[], charges: readonly BucketCharge[], after: readonly (number | undefined)[]): void {
    if (!this.late || !after.includes(undefined)) return;
    after.forEach((spend, i) => {
      if (spend === undefined) this.late!.add(requestId, budgets[i]!, charges[i]!.amount);
    });
  }

  #storeFailed(settle: OwedSettle, err: unknown): void {
    this.#warn('budget store settle failed', err);
    this.writeDirect?.(settle.event);
    // The usage itself is safe (written straight to the database); what a long outage can cost
    // is the counter catching up, and memory must stay bounded for that.
    if (this.#retries.length >= MAX_OWED_SETTLES) {
      repeatedLogs(this.logger).error({ owed: this.#retries.length }, 'too many settles owed to the budget store: this usage is in the ledger, but not in the spend counters');
      return;
    }
    this.#retries.push(settle);
    this.#retry.ask();
  }

  /** The message is written out at each call, so that it can be found in the code by what the log says. */
  #warn(msg: string, err: unknown): void {
    repeatedLogs(this.logger).warn({ err: (err as Error).message, owed: this.#retries.length }, msg);
  }
}

/** CONTRACT section 4: the first that applies of header, stream cost, usage × price, estimate. */
export function actualCost(
  completion: Pick<Completion, 'costHeader' | 'usage'>,
  price: ModelPrice | undefined,
  estimateMicros: number,
): { micros: number; source: CostSource } {
  const fromHeader = parseResponseCost(completion.costHeader);
  if (fromHeader !== undefined) return { micros: fromHeader, source: 'response_header' };
  const usage = completion.usage;
  const fromStream = usage?.costUsd === undefined ? undefined : parseResponseCost(String(usage.costUsd));
  if (fromStream !== undefined) return { micros: fromStream, source: 'stream_usage' };
  if (usage && price) return { micros: costFromUsage(usage, price), source: 'price_table' };
  return { micros: estimateMicros, source: 'estimate' };
}
