import { setTimeout as wait } from 'node:timers/promises';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The registry and every metric of CONTRACT section 10, in one place. One registry per app
 * instance, so tests and several apps in one process never share counters.
 */

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
// The gateway's own time is expected in the sub-millisecond range; resolve it finely there.
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

/** How long a scrape waits for a count read from elsewhere (the database) before it gives the last one. */
const SCRAPE_READ_MS = 500;

export const CIRCUIT_STATE = { closed: 0, halfOpen: 1, open: 2 } as const;

export type Metrics = ReturnType<typeof createMetrics>;

/** Distinct tenants that get their own label; the rest share `other` (CONTRACT section 10). */
export const DEFAULT_TENANT_LABEL_CAP = 200;

export function createMetrics(options: { defaultMetrics?: boolean; tenantLabelCap?: number } = {}) {
  const registry = new Registry();
  // Read at scrape time from whichever ledger path the gateway runs.
  let ledgerPending: () => Promise<number> = async () => 0;
  let ledgerSetAside: () => Promise<number> = async () => 0;
  // Both budget gauges wait for one refresh per scrape (prom-client collects them together); one
  // that takes too long leaves the values as the requests last set them.
  let budgetGauges: () => Promise<void> = async () => {};
  let refreshing: Promise<unknown> | undefined;
  const refreshBudgetGauges = () =>
    (refreshing ??= Promise.race([budgetGauges().catch(() => undefined), wait(SCRAPE_READ_MS, undefined, { ref: false })]).finally(() => {
      refreshing = undefined;
    }));
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  return {
    registry,
    requests: new Counter({
      name: 'budget_gateway_requests_total',
      help: 'Requests answered by the gateway, by route template, method and status code.',
      labelNames: ['route', 'method', 'status'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: 'budget_gateway_request_duration_seconds',
      help: 'Time from request arrival to the last byte of the answer.',
      labelNames: ['route', 'status_class'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    upstreamDuration: new Histogram({
      name: 'budget_gateway_upstream_duration_seconds',
      help: 'Time from dispatching to LiteLLM to the last byte of its answer.',
      labelNames: ['route'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    overhead: new Histogram({
      name: 'budget_gateway_overhead_seconds',
      help: 'Time spent in the gateway itself for proxied requests, upstream time excluded.',
      buckets: OVERHEAD_BUCKETS,
      registers,
    }),
    circuitState: new Gauge({
      name: 'budget_gateway_circuit_state',
      help: 'Upstream circuit breaker: 0 closed, 1 half-open, 2 open.',
      registers,
    }),
    decisions: new Counter({
      name: 'budget_gateway_budget_decisions_total',
      help: 'Budget decisions on cost-bearing requests: ok, alert, grace (admitted) or blocked (402).',
      labelNames: ['decision'] as const,
      registers,
    }),
    storeUnavailable: storeUnavailableCounter(registers),
    tenantSpend: new Counter({
      name: 'budget_gateway_tenant_spend_usd_total',
      help: 'Settled spend per tenant, in US dollars.',
      labelNames: ['tenant'] as const,
      registers,
    }),
    tenantBudget: new Gauge({
      name: 'budget_gateway_tenant_budget_usd',
      help: "Effective USD budget for the current period (overrides included), per tenant and scope (tenant, model:<name>, key:<id>; global with tenant=\"\").",
      labelNames: ['tenant', 'scope'] as const,
      registers,
      async collect() {
        await refreshBudgetGauges();
      },
    }),
    tenantUtilization: new Gauge({
      name: 'budget_gateway_tenant_utilization_ratio',
      help: 'Spend divided by the effective USD budget in the current period, per tenant and scope.',
      labelNames: ['tenant', 'scope'] as const,
      registers,
      async collect() {
        await refreshBudgetGauges();
      },
    }),
    tenantThreshold: new Gauge({
      name: 'budget_gateway_tenant_threshold_ratio',
      help: 'Where a USD budget alerts (line="alert", its lowest alert threshold) and blocks (line="block", its grace threshold), as a ratio of the effective budget: what budget_gateway_tenant_utilization_ratio is compared with.',
      labelNames: ['tenant', 'scope', 'line'] as const,
      registers,
      async collect() {
        await refreshBudgetGauges();
      },
    }),
    /** Sets how a scrape refreshes the budget gauges (src/guard/budget-gauges.ts). */
    refreshBudgetGaugesWith(source: () => Promise<void>): void {
      budgetGauges = source;
    },
    jobRuns: new Counter({
      name: 'budget_gateway_job_runs_total',
      help: 'Scheduled job runs: success, failure, or skipped (another replica held the job).',
      labelNames: ['job', 'outcome'] as const,
      registers,
    }),
    ledgerPending: new Gauge({
      name: 'budget_gateway_ledger_pending',
      help: 'Usage events settled but not yet written to the database.',
      registers,
      async collect() {
        this.set(await ledgerPending().catch(() => 0));
      },
    }),
    countLedgerPendingWith(source: () => Promise<number>): void {
      ledgerPending = source;
    },
    ledgerSetAside: new Gauge({
      name: 'budget_gateway_ledger_set_aside',
      help: 'Usage events the ledger table refused, kept in usage_set_aside for an operator (shared by all replicas).',
      registers,
      // A count from the database: while it is away or slow, the last count stands (a scrape must
      // not hang, and an outage must not read as "nothing set aside" and end the alert).
      async collect() {
        const counted = await Promise.race([ledgerSetAside().catch(() => undefined), wait(SCRAPE_READ_MS, undefined, { ref: false })]);
        if (counted !== undefined) this.set(counted);
      },
    }),
    countLedgerSetAsideWith(source: () => Promise<number>): void {
      ledgerSetAside = source;
    },
    tenantLabel: tenantLabeller(options.tenantLabelCap ?? DEFAULT_TENANT_LABEL_CAP),
    scopeLabel: scopeLabeller(options.tenantLabelCap ?? DEFAULT_TENANT_LABEL_CAP),
  };
}

/**
 * Requests decided without the budget store, by outcome. Both series exist from the start (at 0),
 * so an alert on their increase sees the first outage too.
 */
function storeUnavailableCounter(registers: Registry[]): Counter<'outcome'> {
  const counter = new Counter({
    name: 'budget_gateway_budget_store_unavailable_total',
    help: 'Cost-bearing requests decided without the budget store (Redis unreachable): admitted with no budget enforced (BUDGET_FAIL_MODE=open) or refused with 503 (closed).',
    labelNames: ['outcome'] as const,
    registers,
  });
  for (const outcome of ['admitted', 'refused']) counter.inc({ outcome }, 0);
  return counter;
}

/**
 * `global` and `tenant` as they are; model and key scopes share the tenant label's cap, beyond
 * which they are `model:other` / `key:other`, so a tenant with thousands of keys cannot flood
 * the series.
 */
function scopeLabeller(cap: number): (scope: string) => string {
  const labelled = new Set<string>();
  return (scope) => {
    if (scope === 'global' || scope === 'tenant' || labelled.has(scope)) return scope;
    if (labelled.size >= cap) return `${scope.slice(0, scope.indexOf(':'))}:other`;
    labelled.add(scope);
    return scope;
  };
}

/** The first `cap` tenants seen keep their id as label; later ones are `other`, bounding series. */
function tenantLabeller(cap: number): (tenantId: string) => string {
  const labelled = new Set<string>();
  return (tenantId) => {
    if (labelled.has(tenantId)) return tenantId;
    if (labelled.size >= cap) return 'other';
    labelled.add(tenantId);
    return tenantId;
  };
}

/**
 * Children for the per-request metrics. prom-client validates and hashes the label values on
 * every `inc`/`observe`, even on a child from `labels()`: three histograms and three counters a
 * request made that 3 % of the Redis gateway's CPU. These children look their series up once
 * and then change its numbers in place, in prom-client 15's own series store (`hashMap`, entries
 * `{ value }` or `{ sum, count, bucketValues }`), so export, reset and the registry are
 * prom-client's. test/http/metric-children.test.ts proves the exposition the same as
 * prom-client's own updates, and so catches a change of that store on an upgrade. At most `max`
 * children are kept (label values can come from clients, e.g. the method).
 */
export function counterChildren(metric: Counter<string>, max = 1_000): (...values: string[]) => { inc(amount?: number): void } {
  return children(metric, max, (labels) => {
    const series = seriesOf<{ value: number }>(metric, labels, () => metric.inc(labels, 0));
    return {
      inc(amount = 1) {
        series().value += amount;
      },
    };
  });
}

/** As `counterChildren`, for a gauge set per request (a budget's utilization after each settle). */
export function gaugeChildren(metric: Gauge<string>, max = 1_000): (...values: string[]) => { set(value: number): void } {
  return children(metric, max, (labels) => {
    const series = seriesOf<{ value: number }>(metric, labels, () => metric.set(labels, 0));
    return {
      set(value) {
        series().value = value;
      },
    };
  });
}

export function histogramChildren(metric: Histogram<string>, max = 1_000): (...values: string[]) => { observe(value: number): void } {
  const bounds = (metric as unknown as { upperBounds: number[] }).upperBounds;
  // The store keys buckets by bound; as a number each key would be converted to a string per call.
  const keys = bounds.map(String);
  return children(metric, max, (labels) => {
    const series = seriesOf<{ sum: number; count: number; bucketValues: Record<string, number> }>(metric, labels, () => metric.zero(labels));
    return {
      observe(value) {
        const entry = series();
        let i = 0;
        while (i < bounds.length && value > bounds[i]!) i++;
        if (i < bounds.length) entry.bucketValues[keys[i]!]! += 1;
        entry.sum += value;
        entry.count += 1;
      },
    };
  });
}

type Labels = Record<string, string>;

/**
 * Children found through one map per label, nested. Label values on the request path are mostly
 * the same string objects every time (route templates, methods, status texts from V8's number
 * cache), whose hashes V8 keeps; a key joined from them was a new string to build and hash on every
 * request (twice per request, for the request counter and the duration histogram).
 */
function children<Child>(metric: object, max: number, make: (labels: Labels) => Child): (...values: string[]) => Child {
  const names = (metric as { labelNames: readonly string[] }).labelNames;
  const made = new Map<string, unknown>();
  let size = 0;
  const find = (values: readonly string[]): Child => {
    const last = values.length - 1;
    let level = made;
    for (let i = 0; i < last; i++) {
      let next = level.get(values[i]!) as Map<string, unknown> | undefined;
      if (next === undefined) level.set(values[i]!, (next = new Map()));
      level = next;
    }
    const leaf = last < 0 ? '' : values[last]!;
    let child = level.get(leaf) as Child | undefined;
    if (child === undefined) {
      if (size >= max) {
        // Start over, and find this one's place again in the empty maps.
        made.clear();
        size = 0;
        return find(values);
      }
      child = make(Object.fromEntries(names.map((name, i) => [name, values[i]!])));
      level.set(leaf, child);
      size++;
    }
    return child;
  };
  return (...values) => find(values);
}

/** The series of `labels` in the metric's store, made by `create` when missing (first use, or after a reset). */
function seriesOf<Entry>(metric: object, labels: Labels, create: () => void): () => Entry {
  const store = metric as { hashMap: Record<string, Entry & { labels: Labels }> };
  let hash: string | undefined;
  return () => {
    let entry = hash === undefined ? undefined : store.hashMap[hash];
    if (entry === undefined) {
      create();
      hash = Object.keys(store.hashMap).find((k) => sameLabels(store.hashMap[k]!.labels, labels));
      entry = store.hashMap[hash!]!;
    }
    return entry;
  };
}

function sameLabels(a: Labels, b: Labels): boolean {
  const keys = Object.keys(b);
  return Object.keys(a).length === keys.length && keys.every((k) => String(a[k]) === b[k]);
}

/** `2xx` for 200 to 299, and so on: the same strings every time, not a new one per request. */
const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx', '6xx', '7xx', '8xx', '9xx'];

export function statusClass(status: number): string {
  const hundreds = Math.floor(status / 100);
  return STATUS_CLASSES[hundreds] ?? `${hundreds}xx`;
}
