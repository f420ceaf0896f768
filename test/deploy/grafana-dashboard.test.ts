import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withSimAndGateway } from '../support/gateway.js';
import { checkExpressions, exposedNames, hasPromtool, metricNames } from '../support/promql.js';

/** config/grafana/budget-gateway.json: every query names metrics the gateway really exposes (CONTRACT sections 10 and 12). */

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; refId: string; datasource?: { uid: string } }[];
}

const dashboard = JSON.parse(readFileSync(new URL('../../config/grafana/budget-gateway.json', import.meta.url), 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string }[] };
};
const charts = dashboard.panels.filter((panel) => panel.type !== 'row');
const exprs = charts.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));

/** Every metric of CONTRACT section 10. */
const CONTRACT_METRICS = [
  'budget_gateway_requests_total',
  'budget_gateway_request_duration_seconds_bucket',
  'budget_gateway_upstream_duration_seconds_bucket',
  'budget_gateway_overhead_seconds_bucket',
  'budget_gateway_budget_decisions_total',
  'budget_gateway_tenant_spend_usd_total',
  'budget_gateway_tenant_budget_usd',
  'budget_gateway_tenant_utilization_ratio',
  'budget_gateway_circuit_state',
  'budget_gateway_job_runs_total',
  'budget_gateway_ledger_pending',
];

describe('metricNames, the PromQL reading the checks below rely on', () => {
  it.each([
    ['sum by (route) (rate(budget_gateway_requests_total{status=~"5.."}[$__rate_interval]))', ['budget_gateway_requests_total']],
    ['histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{route=~"/v1/.+"}[5m])))', ['a_seconds_bucket']],
    ['max by (tenant) (u) and on (tenant) topk(10, max by (tenant) (v)) * 3600', ['u', 'v']],
    ['x offset 1h > 1e3 unless on (job) y{job="up"} == bool 2', ['x', 'y']],
    ['up{job="budget-gateway"} == 0', ['up']],
  ])('%s selects %j', (expr, names) => {
    expect(metricNames(expr).sort()).toEqual([...names].sort());
  });
});

describe('config/grafana/budget-gateway.json', () => {
  const suite = withSimAndGateway();

  it('queries only metrics a running gateway exposes on /metrics', async () => {
    const exposed = exposedNames(await suite.gateway.metrics());
    expect(exposed.has('budget_gateway_overhead_seconds_bucket')).toBe(true);
    const unknown = exprs.flatMap(metricNames).filter((name) => !exposed.has(name));
    expect(unknown).toEqual([]);
  });

  it('charts every metric of the contract', () => {
    const charted = new Set(exprs.flatMap(metricNames));
    expect(CONTRACT_METRICS.filter((name) => !charted.has(name))).toEqual([]);
  });

  it('has the panels an operator looks for', () => {
    expect(charts.map((panel) => panel.title)).toEqual(
      expect.arrayContaining(['Request rate by route', 'Error rate', 'Request latency', 'Gateway overhead', 'Budget decisions',
        'Top tenants by utilization', 'LiteLLM circuit', 'Job runs', 'Ledger backlog']),
    );
  });

  it('is valid PromQL throughout (promtool)', (ctx) => {
    if (!hasPromtool()) {
      if (process.env.CI) throw new Error('promtool is missing: .ci/run installs it (apt-get install prometheus)');
      ctx.skip('promtool not installed: apt-get install prometheus');
    }
    // Grafana fills in $__rate_interval; any duration stands for it here.
    const result = checkExpressions(exprs.map((expr) => expr.replaceAll('$__rate_interval', '5m')));
    expect(result).toMatchObject({ code: 0, output: expect.stringContaining(`SUCCESS: ${exprs.length} rules found`) });
  });

  it('asks its Prometheus datasource, chosen by a variable, and lays its panels out without overlap', () => {
    expect(dashboard.uid).toBe('budget-gateway');
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
    for (const panel of charts) {
      const datasource = { type: 'prometheus', uid: '${datasource}' };
      expect({ title: panel.title, datasource: panel.datasource }).toEqual({ title: panel.title, datasource });
      expect(panel.targets?.length).toBeGreaterThan(0);
    }
    const cells = new Set<string>();
    for (const { gridPos: g, title } of dashboard.panels) {
      expect(g.x + g.w).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${title} overlaps another panel at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
  });
});
