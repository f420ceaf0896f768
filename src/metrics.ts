import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The registry and every metric of CONTRACT section 10, in one place. One registry per app
 * instance, so tests and several apps in one process never share counters.
 */

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
// The gateway's own time is expected in the sub-millisecond range; resolve it finely there.
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

export const CIRCUIT_STATE = { closed: 0, halfOpen: 1, open: 2 } as const;

export type Metrics = ReturnType<typeof createMetrics>;

/** Distinct tenants that get their own label; the rest share `other` (CONTRACT section 10). */
export const DEFAULT_TENANT_LABEL_CAP = 200;

export function createMetrics(options: { defaultMetrics?: boolean; tenantLabelCap?: number } = {}) {
  const registry = new Registry();
  // Read at scrape time from whichever ledger path the gateway runs.
  let ledgerPending: () => Promise<number> = async () => 0;
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
    }),
    tenantUtilization: new Gauge({
      name: 'budget_gateway_tenant_utilization_ratio',
      help: 'Spend divided by the effective USD budget in the current period, per tenant and scope.',
      labelNames: ['tenant', 'scope'] as const,
      registers,
    }),
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
    tenantLabel: tenantLabeller(options.tenantLabelCap ?? DEFAULT_TENANT_LABEL_CAP),
    scopeLabel: scopeLabeller(options.tenantLabelCap ?? DEFAULT_TENANT_LABEL_CAP),
  };
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
 * A labelled child of a metric, kept after the first lookup: prom-client hashes the label
 * values on every `labels()` call, which per request costs more than the update itself. At
 * most `max` children are kept (label values can come from clients, e.g. the method).
 */
export function labelledChildren<Child>(metric: { labels(...values: string[]): Child }, max = 1_000): (...values: string[]) => Child {
  const children = new Map<string, Child>();
  return (...values) => {
    const key = values.join('\u0000');
    let child = children.get(key);
    if (child === undefined) {
      if (children.size >= max) children.clear();
      child = metric.labels(...values);
      children.set(key, child);
    }
    return child;
  };
}

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
