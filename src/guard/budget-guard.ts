import { setTimeout as wait } from 'node:timers/promises';
import { costFromUsage, type ModelPrice } from '../budget/cost.js';
import { estimateTokens } from '../budget/estimate.js';
import type { Period } from '../budget/period.js';
import { amountsFor, budgetsFor, overallStatus, refusalCode, tightest, type PeriodicLimit, type ScopedBudget } from '../budget/scopes.js';
import type { BucketReservation, BucketState, ReserveOutcome, SpendStore } from '../budget/spend-store.js';
import { statusOf, utilization, type BudgetStatus } from '../budget/thresholds.js';
import type { Db } from '../db/client.js';
import { ledgerSeed } from '../db/ledger.js';
import { GatewayError } from '../errors.js';
import { repeatedLogs, type Logger } from '../logger.js';
import { counterChildren, type Metrics } from '../metrics.js';
import { PairMap } from '../pair-map.js';
import { BudgetGauges } from './budget-gauges.js';
import { budgetStates } from './budget-states.js';
import { budgetHeaderWriter, refusalMessage } from './budget-headers.js';
import type { CrossingRecorder } from './crossings.js';
import { LeasePool, leaseSignature, type Lease, type LeaseSizing } from './leases.js';
import type { OwedReleases } from './owed-releases.js';
import type { PriceBook } from './price-book.js';
import type { Caller } from './tenant-directory.js';

export interface GuardOptions {
  readonly failMode: 'open' | 'closed';
  /** Headroom leases (a shared store): requests per lease wanted, and how long a lease lives. */
  readonly leases: (LeaseSizing & { readonly lifetimeMs: number }) | undefined;
  /** How long a reservation outlives a replica that died holding it. */
  readonly reservationTtlMs: number;
  readonly defaultCompletionTokens: number;
  /** Prices for models nobody priced, so an estimate is never zero. */
  readonly fallbackPrice: ModelPrice;
  /** The budget gauges, shared with the scrape that refreshes them (by default the guard's own). */
  readonly gauges?: BudgetGauges;
  /** Where a lease's rest waits to be given back later: the store did not take it (it was away), or settles are owed to it. */
  readonly owedReleases?: Pick<OwedReleases, 'add' | 'behindSettles'>;
}

export interface CostRequest {
  readonly endpoint: string;
  readonly model: string | undefined;
  readonly body: unknown;
}

/** A request let through: what it holds in which budgets, and what its answer tells the client. */
export interface Admission {
  readonly requestId: string;
  /** The store reservation this request holds part of: its own, or its lease's. */
  readonly reservationId: string;
  /** The lease it was admitted under, when leases are on. */
  readonly lease: Lease | undefined;
  readonly caller: Caller;
  /** Every budget that applies (CONTRACT section 11), in the store's order. */
  readonly budgets: readonly ScopedBudget[];
  /** What it holds in each budget, in that budget's unit. */
  readonly amounts: readonly number[];
  readonly estimate: { readonly micros: number; readonly tokens: number };
  /** The request's model and the global cap as of admission (to find its plan again on settle). */
  readonly model: string | undefined;
  readonly global: PeriodicLimit | undefined;
  /** The tenant's period (the ledger row's `period_started_at`). */
  readonly period: Period;
  readonly status: BudgetStatus;
  /** False when admitted without the store (fail-open): nothing to release, spend recorded later. */
  readonly reserved: boolean;
  readonly headers: Readonly<Record<string, string>>;
}

/** What admission knows of a request before the store has answered. */
type Base = Omit<Admission, 'reservationId' | 'lease' | 'status' | 'reserved' | 'headers'>;

/** A lease slice taken, or the promise to take the next lease (`announced`), or neither. */
interface Taken {
  readonly lease?: Lease | undefined;
  readonly announced?: (shared: boolean) => void;
}

const NOT_LEASED: Taken = {};

/** Spelled out rather than spread: one object shape for every admission, built once per request. */
function admission(base: Base, reservationId: string, lease: Lease | undefined, status: BudgetStatus, reserved: boolean, headers: Readonly<Record<string, string>>): Admission {
  return {
    requestId: base.requestId,
    reservationId,
    lease,
    caller: base.caller,
    budgets: base.budgets,
    amounts: base.amounts,
    estimate: base.estimate,
    model: base.model,
    global: base.global,
    period: base.period,
    status,
    reserved,
    headers,
  };
}

/** A request's budgets, computed once per tenant policy, key and model until a boundary passes. */
interface Plan {
  readonly budgets: readonly ScopedBudget[];
  readonly global: PeriodicLimit | undefined;
  readonly keyBudgetMicros: number | null;
  /** The first period end or override expiry ahead: the plan is recomputed from then on. */
  readonly validUntilMs: number;
  /** The tenant's period (the ledger row's `period_started_at`). */
  readonly period: Period;
  /** The buckets' keys, and their lease identity (keys and block lines): constant while the plan holds. */
  readonly keys: readonly string[];
  readonly signature: string;
  /** Per budget, its utilization gauge (USD budgets), resolved once: label lookups cost more than the rest of a settle. */
  readonly utilization: readonly (Gauge | undefined)[];
}

type Gauge = { set(value: number): void };

/** Plans kept per tenant policy: models come from clients, so a flood of names must not grow memory. */
const MAX_PLANS_PER_TENANT = 64;

/**
 * Admission on the hot path (CONTRACT sections 3 and 11): one atomic reserve over every budget
 * that applies before the request goes upstream, all or nothing; a bucket the store does not know
 * is first seeded from the ledger, which is how counters are rebuilt after Redis lost them.
 */
export class BudgetGuard {
  readonly #seeding = new Map<string, Promise<void>>();
  readonly #leases: LeasePool | undefined;
  /**
   * Lease requests under way, per signature: a burst waits for one lease instead of taking one
   * each. Each resolves true when the waiters should try for a lease again (it opened one they
   * may share, or reserved a single request by choice), false when each should reserve alone.
   */
  readonly #leasing = new Map<string, Promise<boolean>>();
  readonly #decisions: (decision: string) => { inc(): void };
  /** Requests decided without the store: during an outage in fail-open mode, every request. */
  readonly #withoutStore: (outcome: string) => { inc(): void };
  readonly #gauges: BudgetGauges;
  /**
   * Requests admitted with a reservation and not yet finished: whose reservations
   * `renewReservations` keeps from expiring, and `restoreAfterLoss` puts back.
   */
  readonly #inFlight = new Set<Admission>();
  /** Those in flight at the last renewal. */
  #inFlightAtRenewal = new WeakSet<Admission>();
  /** Admission waits until then (epoch ms): the store lost its data, other replicas are still putting theirs back. */
  #pausedUntilMs = 0;
  /** The last x-budget-* headers per budget (budgets live as long as their plan). */
  readonly #lastHeaders = new WeakMap<
    ScopedBudget,
    { spend: number; headers: Readonly<Record<string, string>>; write: ReturnType<typeof budgetHeaderWriter> }
  >();
  /** Per key id and model, keyed by the cached policy object: an admin change replaces it, and its plans go with it. */
  readonly #plans = new WeakMap<Caller['tenant'], PairMap<Plan>>();

  constructor(
    private readonly store: SpendStore,
    private readonly db: Db,
    private readonly prices: PriceBook,
    private readonly crossings: CrossingRecorder,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly now: () => number,
    /** The system-wide cap, if any (cached; admin changes invalidate it): a promise only while it is being read. */
    private readonly globalLimit: () => PeriodicLimit | undefined | Promise<PeriodicLimit | undefined>,
    private readonly options: GuardOptions,
  ) {
    this.#leases = options.leases && new LeasePool(store, options.leases.lifetimeMs, options.leases, options.owedReleases);
    this.#decisions = counterChildren(metrics.decisions);
    this.#withoutStore = counterChildren(metrics.storeUnavailable);
    this.#gauges = options.gauges ?? new BudgetGauges(metrics);
  }

  /**
   * Reserves the request's estimate in every budget. The admission itself when nothing had to be
   * waited for (a slice of a live lease, the in-process store), else a promise of it; a refusal,
   * 402 (a budget) or 503 (store down, fail-closed), is always a rejected promise. Each await
   * skipped is a turn of the microtask queue and a promise the request does not allocate.
   */
  admit(caller: Caller, request: CostRequest, requestId: string): Admission | Promise<Admission> {
    if (this.#pausedUntilMs !== 0) {
      const left = this.#pausedUntilMs - Date.now();
      if (left > 0) return wait(left, undefined, { ref: false }).then(() => this.admit(caller, request, requestId));
      this.#pausedUntilMs = 0;
    }
    try {
      const limit = this.globalLimit();
      if (limit instanceof Promise) return limit.then((global) => this.#admit(caller, request, requestId, global));
      return this.#admit(caller, request, requestId, limit);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #admit(caller: Caller, request: CostRequest, requestId: string, global: PeriodicLimit | undefined): Admission | Promise<Admission> {
    const nowMs = this.now();
    const plan = this.#planFor(caller, request.model, global, nowMs);
    const tokens = estimateTokens(request, { defaultCompletionTokens: this.options.defaultCompletionTokens });
    const micros = Math.max(1, costFromUsage(tokens, this.prices.get(request.model) ?? this.options.fallbackPrice));
    const estimate = { micros, tokens: tokens.promptTokens + tokens.completionTokens };
    const amounts = amountsFor(plan.budgets, estimate);
    const base: Base = { requestId, caller, budgets: plan.budgets, amounts, estimate, model: request.model, global, period: plan.period };
    // Without a lease being taken for these buckets (the usual case), no wait at all.
    if (!this.#leasing.has(plan.signature)) return this.#reserve(base, plan, this.#leaseNow(plan.signature, amounts), false, nowMs);
    return this.#awaitLease(plan.signature, amounts).then((taken) => this.#reserve(base, plan, taken, true, nowMs));
  }

  /** A slice of the lease taken, or the store's reservation: at once when the store answers at once. */
  #reserve(base: Base, plan: Plan, taken: Taken, contended: boolean, nowMs: number): Admission | Promise<Admission> {
    const { lease: leased, announced } = taken;
    if (leased) return this.#admitted(base, leased.id, leased, leased.knownSpends);
    const perLease = this.#leases?.reserving(plan.signature, this.now(), contended) ?? 1;
    const buckets: BucketReservation[] = base.budgets.map((b, i) => ({
      key: b.key,
      blockLine: b.lines.blockLineMicros,
      amount: base.amounts[i]!,
      wanted: base.amounts[i]! * perLease,
      periodEndMs: b.period.endMs,
    }));
    const reservationId = this.#leases ? `lease:${base.requestId}` : base.requestId;
    let reply: ReserveOutcome | Promise<ReserveOutcome>;
    try {
      // The plan's time, unless this request waited for a lease meanwhile.
      reply = this.store.reserve(reservationId, buckets, contended ? this.now() : nowMs, this.options.reservationTtlMs);
    } catch (err) {
      return this.#storeDown(err, base, reservationId, announced);
    }
    if (reply instanceof Promise || reply.kind === 'unknown') return this.#reserveWaiting(base, plan, reservationId, buckets, perLease, reply, announced);
    return this.#decided(base, plan, reservationId, perLease, reply, announced);
  }

  /**
   * The store's answer still to come, or buckets it does not know (new, or lost with Redis),
   * seeded first; the usual case costs one await, not two.
   */
  async #reserveWaiting(
    base: Base,
    plan: Plan,
    reservationId: string,
    buckets: BucketReservation[],
    perLease: number,
    reply: ReserveOutcome | Promise<ReserveOutcome>,
    announced: Taken['announced'],
  ): Promise<Admission> {
    let outcome: Exclude<ReserveOutcome, { kind: 'unknown' }>;
    try {
      const first = await reply;
      outcome = first.kind === 'unknown' ? await this.#reserveSeeded(reservationId, buckets, base.budgets, first.unknown) : first;
    } catch (err) {
      return this.#storeDown(err, base, reservationId, announced);
    }
    return this.#decided(base, plan, reservationId, perLease, outcome, announced);
  }

  /** Admitted or refused (throws 402) on the store's answer; the requests waiting on this one go on either way. */
  #decided(
    base: Base,
    plan: Plan,
    reservationId: string,
    perLease: number,
    outcome: Exclude<ReserveOutcome, { kind: 'unknown' }>,
    announced: Taken['announced'],
  ): Admission {
    /** Whether the requests waiting on this one should try for a lease again (see #awaitLease). */
    let again = false;
    try {
      const spends = outcome.states.map((s) => s.spend);
      if (outcome.kind === 'refused') throw this.#refusal(base.caller, base.budgets, outcome.refused, outcome.states);
      const lease = this.#leases?.open(reservationId, plan.signature, plan.keys, outcome.granted, base.amounts, spends);
      // A lease to share, or a single request by choice (buckets not reserved lately): the next
      // waiter takes a lease for the rest of the burst. One the store cut to a single request
      // (near the line) sends every waiter to reserve for itself.
      again = lease !== undefined && (!lease.retired || perLease === 1);
      return this.#admitted(base, reservationId, lease, spends);
    } finally {
      announced?.(again);
    }
  }

  /** A request's reservation ended (settled or released): its lease may now give back the rest. */
  finished(admission: Admission): void {
    this.#inFlight.delete(admission);
    if (admission.lease) this.#leases!.done(admission.lease);
  }

  /**
   * The store came back without its data (a Redis restarted empty): its buckets are rebuilt from
   * the ledger, which knows nothing of the requests still in flight, so they would lend those
   * requests' room again. Leases stop lending (their rest went with the data), and what each
   * request in flight here holds is put back, in buckets seeded first, before it settles. Other
   * replicas do the same as they reconnect: until `othersBackByMs` (epoch ms) this one admits
   * nothing, so it lends none of their requests' room either. Returns how many reservations
   * were put back.
   */
  async restoreAfterLoss(othersBackByMs: number): Promise<number> {
    const restore = this.store.restore?.bind(this.store);
    if (!restore) return 0;
    this.#pausedUntilMs = Math.max(this.#pausedUntilMs, othersBackByMs);
    this.#leases?.retireAll();
    const held = new Map<string, { budgets: readonly ScopedBudget[]; amounts: number[] }>();
    for (const a of this.#inFlight) {
      let entry = held.get(a.reservationId);
      if (!entry) held.set(a.reservationId, (entry = { budgets: a.budgets, amounts: a.budgets.map(() => 0) }));
      a.amounts.forEach((amount, i) => (entry.amounts[i]! += amount));
    }
    const nowMs = this.now();
    await Promise.all(
      [...held].map(async ([id, { budgets, amounts }]) => {
        await Promise.all(budgets.map((b) => this.seed(b)));
        const buckets = budgets.map((b, i) => ({ key: b.key, amount: amounts[i]!, periodEndMs: b.period.endMs }));
        await restore(id, buckets, nowMs, this.options.reservationTtlMs);
      }),
    );
    return held.size;
  }

  /**
   * Keeps the reservations of requests still running from expiring: RESERVATION_TTL_MS is how long
   * one outlives a replica that died holding it, and a slow stream can run longer. Called every
   * third of the TTL, it gives those already in flight at the last call a full TTL again (the
   * others have two thirds of theirs left at least). Returns how many reservations it renewed.
   */
  async renewReservations(): Promise<number> {
    const due = new Map<string, readonly string[]>();
    for (const a of this.#inFlight) if (this.#inFlightAtRenewal.has(a)) due.set(a.reservationId, a.budgets.map((b) => b.key));
    this.#inFlightAtRenewal = new WeakSet(this.#inFlight);
    if (due.size === 0) return 0;
    await this.store.renew([...due].map(([id, keys]) => ({ id, keys })), this.now() + this.options.reservationTtlMs);
    return due.size;
  }

  /** The store did not take back this request's part of its lease (it was away): the lease's whole release returns it. */
  partNotReturned(admission: Admission): void {
    if (admission.lease) this.#leases!.partNotReturned(admission.lease);
  }

  /** Gives back what leases still hold (shutdown). */
  retireLeases(): void {
    this.#leases?.retireAll();
  }

  /** The budgets as they stand, for answers that spend nothing (listing models). */
  async view(caller: Caller): Promise<Readonly<Record<string, string>>> {
    const { budgets } = this.#planFor(caller, undefined, await this.globalLimit(), this.now());
    // Where the store is away or does not know a bucket, the ledger's spend (never a false zero).
    const states = await budgetStates({ db: this.db, store: this.store }, budgets).catch(() => budgets.map(() => undefined));
    return this.#headers(budgets, states.map((s) => s?.spend ?? 0));
  }

  /** Spends after a settle at `nowMs`, per budget (undefined where the store did not know it): crossings, gauges. */
  noteSpends(admission: Admission, spends: readonly (number | undefined)[], nowMs: number): void {
    if (admission.lease) this.#leases!.noteSpends(admission.lease, spends);
    const plan = this.#planFor(admission.caller, admission.model, admission.global, nowMs);
    admission.budgets.forEach((budget, i) => {
      const spend = spends[i];
      if (spend === undefined) return;
      if (spend >= budget.lines.blockLineMicros) this.#leases?.lineReached(budget.key);
      if (plan.budgets[i] === budget) plan.utilization[i]?.set(utilization(spend, budget.lines.effectiveMicros));
      this.crossings.note({ ownerId: this.#owner(admission.caller, budget), budget, spend });
    });
  }

  #planFor(caller: Caller, model: string | undefined, global: PeriodicLimit | undefined, nowMs: number): Plan {
    let plans = this.#plans.get(caller.tenant);
    if (!plans) this.#plans.set(caller.tenant, (plans = new PairMap()));
    const known = plans.get(caller.keyId, model ?? '');
    if (known && known.global === global && known.keyBudgetMicros === caller.keyBudgetMicros && nowMs < known.validUntilMs) return known;
    const { tenant, keyId, keyBudgetMicros } = caller;
    const budgets = budgetsFor({ tenant, global, keyId, keyBudgetMicros, model, nowMs });
    const override = tenant.override && nowMs < tenant.override.expiresAtMs ? [tenant.override.expiresAtMs] : [];
    const plan = {
      budgets,
      global,
      keyBudgetMicros,
      validUntilMs: Math.min(...budgets.map((b) => b.period.endMs), ...override),
      period: budgets.find((b) => b.scope === 'tenant')!.period,
      keys: budgets.map((b) => b.key),
      signature: leaseSignature(budgets.map((b) => ({ key: b.key, blockLine: b.lines.blockLineMicros }))),
      utilization: this.#gauges.track(caller, model, budgets),
    };
    // A plan replaced (stale) takes no more room; a new one may start the tenant's plans over.
    if (!known && plans.size >= MAX_PLANS_PER_TENANT) plans.clear();
    plans.set(keyId, model ?? '', plan);
    return plan;
  }

  /**
   * A slice of a live lease. While one is being taken for these buckets, the request waits for it
   * and takes a slice of that one; when a burst uses it up, the first waiter to find it so takes
   * the next lease (`announced`: it resolves the others' wait) and the rest wait for that one, so
   * a burst costs a store round trip per lease, not per request. The first request for buckets
   * not reserved lately holds no lease (a single request); those waiting on it are a burst, and
   * the first of them takes a full lease for the rest. Near the line (the store grants one
   * request's worth whatever was asked) nobody waits any more: each request reserves for itself.
   */
  async #awaitLease(signature: string, amounts: readonly number[]): Promise<Taken> {
    for (;;) {
      const leasing = this.#leasing.get(signature);
      if (!leasing) return this.#leaseNow(signature, amounts);
      const again = await leasing;
      const lease = this.#leases!.take(signature, amounts);
      if (lease || !again) return { lease };
    }
  }

  /** A slice of the live lease, or else this request takes the next one. */
  #leaseNow(signature: string, amounts: readonly number[]): Taken {
    if (!this.#leases) return NOT_LEASED;
    const lease = this.#leases.take(signature, amounts);
    return lease ? { lease } : { announced: this.#announce(signature) };
  }

  /** This request takes the next lease for `signature`; the others wait until it says whether they may share it. */
  #announce(signature: string): (shared: boolean) => void {
    let resolve!: (shared: boolean) => void;
    this.#leasing.set(signature, new Promise<boolean>((r) => (resolve = r)));
    return (shared) => {
      this.#leasing.delete(signature);
      resolve(shared);
    };
  }

  #admitted(base: Base, reservationId: string, lease: Lease | undefined, spends: readonly number[]): Admission {
    const headers = this.#headers(base.budgets, spends);
    const status = overallStatus(base.budgets, spends);
    this.#decisions(status).inc();
    const admitted = admission(base, reservationId, lease, status, true, headers);
    this.#inFlight.add(admitted);
    return admitted;
  }

  /**
   * The x-budget-* headers describe the tightest USD budget (CONTRACT section 11). The last ones
   * per budget are reused while its spend stands still, as it does for every request of a lease;
   * when it moves, only the spend and what remains are formatted again.
   */
  #headers(budgets: readonly ScopedBudget[], spends: readonly number[]): Readonly<Record<string, string>> {
    const i = tightest(budgets, spends);
    const budget = budgets[i]!;
    const spend = spends[i]!;
    let last = this.#lastHeaders.get(budget);
    if (last?.spend === spend) return last.headers;
    if (last === undefined) {
      last = { spend, headers: {}, write: budgetHeaderWriter(budget.lines, budget.period) };
      this.#lastHeaders.set(budget, last);
    }
    last.spend = spend;
    last.headers = last.write(spend, statusOf(spend, budget.lines));
    return last.headers;
  }

  #refusal(caller: Caller, budgets: readonly ScopedBudget[], refused: number, states: readonly BucketState[]): GatewayError {
    const budget = budgets[refused]!;
    const state = states[refused]!;
    this.#decisions('blocked').inc();
    // Refused while requests in flight hold the rest: the budget is blocked by status only once
    // its settled spend reaches the line, and the settle that gets it there records that.
    this.crossings.note({ ownerId: this.#owner(caller, budget), budget, spend: state.spend });
    const headers = this.#headers(budgets, states.map((s) => s.spend));
    return new GatewayError(refusalCode(budget.unit), refusalMessage(budget, caller.tenant.tenantId, state), {
      ...headers,
      'x-should-retry': 'false',
      'x-budget-scope': budget.scope,
    });
  }

  async #reserveSeeded(
    id: string,
    buckets: BucketReservation[],
    budgets: readonly ScopedBudget[],
    unknown: readonly number[],
  ): Promise<Exclude<ReserveOutcome, { kind: 'unknown' }>> {
    await Promise.all(unknown.map((i) => this.seed(budgets[i]!)));
    const second = await this.store.reserve(id, buckets, this.now(), this.options.reservationTtlMs);
    if (second.kind === 'unknown') throw new Error(`buckets ${second.unknown.map((i) => buckets[i]!.key).join(', ')} unknown after seeding`);
    return second;
  }

  /**
   * Makes the bucket known to the store with what the ledger holds, unless it is known already:
   * one ledger query per bucket and replica, however many requests wait for it.
   */
  seed(budget: ScopedBudget): Promise<void> {
    let seeding = this.#seeding.get(budget.key);
    if (!seeding) {
      seeding = ledgerSeed(this.db, budget.ledger, budget.unit, budget.period)
        .then(({ total, snapshot }) => this.store.seed(budget.key, total, budget.period.endMs, snapshot))
        .finally(() => this.#seeding.delete(budget.key));
      this.#seeding.set(budget.key, seeding);
    }
    return seeding;
  }

  /** The store failed: admitted without it (fail-open) or 503 (fail-closed); the requests waiting on this one go on. */
  #storeDown(err: unknown, base: Base, reservationId: string, announced: Taken['announced']): Admission {
    announced?.(false);
    const tenantId = base.caller.tenant.tenantId;
    if (this.options.failMode === 'closed') {
      this.#withoutStore('refused').inc();
      repeatedLogs(this.logger).error({ tenant: tenantId, err: (err as Error).message }, 'budget store unreachable: refusing (fail mode closed)');
      throw new GatewayError('budget_store_unavailable', 'The budget store is unavailable; try again shortly.', { 'retry-after': '5' });
    }
    this.#withoutStore('admitted').inc();
    repeatedLogs(this.logger).warn({ tenant: tenantId, err: (err as Error).message }, 'budget store unreachable: admitting (fail mode open)');
    this.#decisions('ok').inc();
    // Spend is unknown without the store: the headers say what the gateway knows, which is nothing spent.
    const headers = this.#headers(base.budgets, base.budgets.map(() => 0));
    return admission(base, reservationId, undefined, 'ok', false, headers);
  }

  /** Whose crossing it is: the tenant's, or everyone's for the global cap. */
  #owner(caller: Caller, budget: ScopedBudget): string | null {
    return budget.scope === 'global' ? null : caller.tenant.tenantId;
  }
}
