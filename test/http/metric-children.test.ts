import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { counterChildren, createMetrics, gaugeChildren, histogramChildren } from '../../src/metrics.js';

/** Label values as clients may send them (the method), including what exposition must escape. */
const labelValue = fc.oneof(fc.constantFrom('/v1/chat/completions', 'POST', '200', '2xx', 'acme'), fc.string({ maxLength: 8 }));
const seconds = fc.oneof(fc.constantFrom(0, 0.0001, 0.001, 0.0025, 0.1, 600, 601, 1e9), fc.double({ min: 0, max: 1_000, noNaN: true }));

type Step =
  | { kind: 'count'; values: [string, string, string]; amount: number }
  | { kind: 'time'; values: [string, string]; value: number }
  | { kind: 'overhead'; value: number }
  | { kind: 'gauge'; values: [string, string]; value: number }
  | { kind: 'reset' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('count' as const), values: fc.tuple(labelValue, labelValue, labelValue), amount: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 5, noNaN: true })) }),
  fc.record({ kind: fc.constant('time' as const), values: fc.tuple(labelValue, labelValue), value: seconds }),
  fc.record({ kind: fc.constant('overhead' as const), value: seconds }),
  // Few tenants and scopes, as a gauge is set again and again for the same budget.
  fc.record({ kind: fc.constant('gauge' as const), values: fc.tuple(fc.constantFrom('acme', 'other', ''), fc.constantFrom('tenant', 'global', 'model:gpt-4o')), value: fc.oneof(fc.constantFrom(0, 0.5, 1, 1.1), fc.double({ min: 0, max: 10, noNaN: true })) }),
  fc.constant({ kind: 'reset' as const }),
);

describe('per-request metric children', () => {
  it("expose exactly what prom-client's own inc, observe and set would, across resets", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
        const reference = createMetrics({ defaultMetrics: false });
        const fast = createMetrics({ defaultMetrics: false });
        const requests = counterChildren(fast.requests);
        const durations = histogramChildren(fast.requestDuration);
        const overhead = histogramChildren(fast.overhead)();
        const utilization = gaugeChildren(fast.tenantUtilization);
        for (const s of steps) {
          if (s.kind === 'count') {
            reference.requests.labels(...s.values).inc(s.amount);
            requests(...s.values).inc(s.amount);
          } else if (s.kind === 'time') {
            reference.requestDuration.labels(...s.values).observe(s.value);
            durations(...s.values).observe(s.value);
          } else if (s.kind === 'gauge') {
            reference.tenantUtilization.labels(...s.values).set(s.value);
            utilization(...s.values).set(s.value);
          } else if (s.kind === 'overhead') {
            reference.overhead.observe(s.value);
            overhead.observe(s.value);
          } else {
            reference.registry.resetMetrics();
            fast.registry.resetMetrics();
          }
        }
        expect(await fast.registry.metrics()).toBe(await reference.registry.metrics());
      }),
      { numRuns: 300 },
    );
  });

  it('keep at most the given number of children, and still count into the right series after dropping them', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const requests = counterChildren(metrics.requests, 2);
    for (const method of ['GET', 'POST', 'PUT', 'GET', 'POST']) requests('/r', method, '200').inc();
    const text = await metrics.registry.metrics();
    expect(text).toContain('budget_gateway_requests_total{route="/r",method="GET",status="200"} 2');
    expect(text).toContain('budget_gateway_requests_total{route="/r",method="POST",status="200"} 2');
    expect(text).toContain('budget_gateway_requests_total{route="/r",method="PUT",status="200"} 1');
  });
});
