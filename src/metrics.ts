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

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
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
  };
}

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
