import { tenantBucketKey, type BucketReservation, type ReserveOutcome, type SpendStore } from '../budget/spend-store.js';
import { estimateCost, type ModelPrice } from '../budget/cost.js';
import { effectiveBudget } from '../budget/override.js';
import { currentPeriod, type Period } from '../budget/period.js';
import { budgetLines, statusOf, utilization, type BudgetLines, type BudgetStatus } from '../budget/thresholds.js';
import type { Db } from '../db/client.js';
import { periodSpend } from '../db/ledger.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { budgetHeaders, refusalMessage } from './budget-headers.js';
import type { CrossingRecorder } from './crossings.js';
import { LeasePool, type Lease } from './leases.js';
import type { PriceBook } from './price-book.js';
import type { Caller } from './tenant-directory.js';

export interface GuardOptions {
  readonly failMode: 'open' | 'closed';
  /** Headroom leases (a shared store): requests per lease wanted, and how long a lease lives. */
  readonly leases: { readonly requestsPerLease: number; readonly lifetimeMs: number } | undefined;
  /** How long a reservation outlives a replica that died holding it. */
  readonly reservationTtlMs: number;
  readonly defaultCompletionTokens: number;
  /** Prices for models nobody priced, so an estimate is never zero. */
  readonly fallbackPrice: ModelPrice;
}

export interface CostRequest {
  readonly endpoint: string;
  readonly model: string | undefined;
  readonly body: unknown;
}

/** A request let through: what it reserved where, and what its answer tells the client. */
export interface Admission {
  readonly requestId: string;
  /** The store reservation this request holds part of: its own, or its lease's. */
  readonly reservationId: string;
  /** The lease it was admitted under, when leases are on. */
  readonly lease: Lease | undefined;
  readonly caller: Caller;
  readonly period: Period;
  readonly lines: BudgetLines;
  readonly bucketKey: string;
  readonly estimateMicros: number;
  readonly status: BudgetStatus;
  /** False when admitted without the store (fail-open): nothing to release, spend recorded later. */
  readonly reserved: boolean;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Admission on the hot path (CONTRACT section 3): one atomic reserve in the store before the
 * request goes upstream, all-or-nothing over the request's buckets; a bucket the store does not
 * know is first seeded from the ledger, which is how counters are rebuilt after Redis lost them.
 */
export class BudgetGuard {
  readonly #seeding = new Map<string, Promise<void>>();
  readonly #leases: LeasePool | undefined;
  /** Lease requests under way, per bucket: a burst waits for one lease instead of taking one each. */
  readonly #leasing = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: SpendStore,
    private readonly db: Db,
    private readonly prices: PriceBook,
    private readonly crossings: CrossingRecorder,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly options: GuardOptions,
  ) {
    this.#leases = options.leases && new LeasePool(store, options.leases.lifetimeMs);
  }

  /** Reserves the request's estimate, or throws 402 (budget) / 503 (store down, fail-closed). */
  async admit(caller: Caller, request: CostRequest, requestId: string): Promise<Admission> {
    const nowMs = this.now();
    const { period, lines, bucketKey } = this.#budgetOf(caller, nowMs);
    const estimateMicros = estimateCost({ endpoint: request.endpoint, body: request.body }, this.prices.get(request.model), {
      defaultCompletionTokens: this.options.defaultCompletionTokens,
      fallbackPrice: this.options.fallbackPrice,
    });
    const base = { requestId, caller, period, lines, bucketKey, estimateMicros };
    const leased = await this.#takeLease(bucketKey, lines.blockLineMicros, estimateMicros);
    if (leased) return this.#admitted({ ...base, reservationId: leased.id, lease: leased }, leased.knownSpend);

    const reservationId = this.#leases ? `lease:${requestId}` : requestId;
    const wanted = estimateMicros * (this.options.leases?.requestsPerLease ?? 1);
    const bucket = { key: bucketKey, blockLine: lines.blockLineMicros, amount: estimateMicros, wanted, periodEndMs: period.endMs };
    let outcome: ReserveOutcome;
    try {
      const reserving = this.#reserve(reservationId, bucket, caller.tenant.tenantId, period, nowMs);
      if (this.#leases) this.#whileLeasing(bucketKey, reserving);
      outcome = await reserving;
    } catch (err) {
      return this.#storeDown(err, { ...base, reservationId, lease: undefined });
    }
    const state = outcome.states[0]!;
    if (outcome.kind === 'refused') {
      this.metrics.decisions.labels('blocked').inc();
      this.metrics.tenantBudget.labels(this.metrics.tenantLabel(caller.tenant.tenantId)).set(lines.effectiveMicros / 1e6);
      const headers = budgetHeaders(lines, state.spend, 'blocked', period);
      // Refused while requests in flight hold the rest: the tenant is blocked by status only
      // once its settled spend reaches the line, and the settle that gets it there records that.
      this.#noteCrossing(caller, period, lines, state.spend, statusOf(state.spend, lines));
      throw new GatewayError('budget_exceeded', refusalMessage('tenant', caller.tenant.tenantId, lines, state, period), {
        ...headers,
        'x-should-retry': 'false',
        'x-budget-scope': 'tenant',
      });
    }
    const lease = this.#leases?.open(reservationId, bucketKey, lines.blockLineMicros, outcome.granted[0]!, estimateMicros, state.spend);
    return this.#admitted({ ...base, reservationId, lease }, state.spend);
  }

  /** A slice of a live lease; when one is being taken for this bucket, a slice of that one. */
  async #takeLease(bucketKey: string, blockLine: number, estimate: number): Promise<Lease | undefined> {
    if (!this.#leases) return undefined;
    const leasing = this.#leasing.get(bucketKey);
    if (leasing) await leasing.catch(() => undefined);
    return this.#leases.take(bucketKey, blockLine, estimate);
  }

  #whileLeasing(bucketKey: string, reserving: Promise<unknown>): void {
    if (this.#leasing.has(bucketKey)) return;
    const settled = reserving.finally(() => this.#leasing.delete(bucketKey));
    settled.catch(() => undefined);
    this.#leasing.set(bucketKey, settled);
  }

  /** A request's reservation ended (settled or released): its lease may now give back the rest. */
  finished(admission: Admission): void {
    if (admission.lease) this.#leases!.done(admission.lease);
  }

  /** Gives back what leases still hold (shutdown). */
  retireLeases(): void {
    this.#leases?.retireAll();
  }

  #admitted(admission: Omit<Admission, 'status' | 'reserved' | 'headers'>, spendMicros: number): Admission {
    const { lines, period, caller } = admission;
    const status = statusOf(spendMicros, lines);
    this.metrics.decisions.labels(status).inc();
    this.metrics.tenantBudget.labels(this.metrics.tenantLabel(caller.tenant.tenantId)).set(lines.effectiveMicros / 1e6);
    return { ...admission, status, reserved: true, headers: budgetHeaders(lines, spendMicros, status, period) };
  }

  /** The budget as it stands, for answers that spend nothing (listing models). */
  async view(caller: Caller): Promise<Readonly<Record<string, string>>> {
    const { period, lines, bucketKey } = this.#budgetOf(caller, this.now());
    const [state] = await this.store.read([bucketKey]).catch(() => [undefined]);
    const spend = state?.spend ?? 0;
    return budgetHeaders(lines, spend, statusOf(spend, lines), period);
  }

  /** Crossings reached by a settle (alert, blocked), recorded once per period. */
  noteSpend(admission: Admission, spendAfterMicros: number): void {
    if (admission.lease) this.#leases!.noteSpend(admission.lease, spendAfterMicros);
    const status = statusOf(spendAfterMicros, admission.lines);
    const tenant = this.metrics.tenantLabel(admission.caller.tenant.tenantId);
    this.metrics.tenantUtilization.labels(tenant).set(utilization(spendAfterMicros, admission.lines.effectiveMicros));
    if (status !== 'ok') this.#noteCrossing(admission.caller, admission.period, admission.lines, spendAfterMicros, status);
  }

  #budgetOf(caller: Caller, nowMs: number): { period: Period; lines: BudgetLines; bucketKey: string } {
    const tenant = caller.tenant;
    const period = currentPeriod(tenant.period, tenant.duration, nowMs, tenant.anchorMs);
    const effective = effectiveBudget(tenant.maxBudgetMicros, tenant.override, nowMs);
    return {
      period,
      lines: budgetLines(effective, tenant.alertThreshold, tenant.graceThreshold),
      bucketKey: tenantBucketKey(tenant.tenantId, period.startMs),
    };
  }

  async #reserve(
    reservationId: string,
    bucket: BucketReservation,
    tenantId: string,
    period: Period,
    nowMs: number,
  ): Promise<Exclude<ReserveOutcome, { kind: 'unknown' }>> {
    const first = await this.store.reserve(reservationId, [bucket], nowMs, this.options.reservationTtlMs);
    if (first.kind !== 'unknown') return first;
    await this.#seed(bucket.key, tenantId, period);
    const second = await this.store.reserve(reservationId, [bucket], nowMs, this.options.reservationTtlMs);
    if (second.kind === 'unknown') throw new Error(`bucket ${bucket.key} unknown after seeding`);
    return second;
  }

  /** One ledger query per bucket and replica, however many requests wait for it. */
  #seed(key: string, tenantId: string, period: Period): Promise<void> {
    let seeding = this.#seeding.get(key);
    if (!seeding) {
      seeding = periodSpend(this.db, tenantId, new Date(period.startMs))
        .then((spent) => this.store.seed(key, spent.costMicros, period.endMs))
        .finally(() => this.#seeding.delete(key));
      this.#seeding.set(key, seeding);
    }
    return seeding;
  }

  #storeDown(err: unknown, draft: Omit<Admission, 'status' | 'reserved' | 'headers'>): Admission {
    const tenantId = draft.caller.tenant.tenantId;
    if (this.options.failMode === 'closed') {
      this.logger.error({ tenant: tenantId, err: (err as Error).message }, 'budget store unreachable: refusing (fail mode closed)');
      throw new GatewayError('budget_store_unavailable', 'The budget store is unavailable; try again shortly.', { 'retry-after': '5' });
    }
    this.logger.warn({ tenant: tenantId, err: (err as Error).message }, 'budget store unreachable: admitting (fail mode open)');
    this.metrics.decisions.labels('ok').inc();
    // Spend is unknown without the store: the headers say what the gateway knows, which is nothing spent.
    const headers = budgetHeaders(draft.lines, 0, 'ok', draft.period);
    return { ...draft, status: 'ok', reserved: false, headers };
  }

  #noteCrossing(caller: Caller, period: Period, lines: BudgetLines, spendMicros: number, status: BudgetStatus): void {
    const { tenantId, alertThreshold, graceThreshold } = caller.tenant;
    this.crossings.note({ tenantId, periodStartMs: period.startMs, status, spendMicros, lines, alertThreshold, graceThreshold });
  }
}
