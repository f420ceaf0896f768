import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { withSimAndGateway } from '../support/gateway.js';
import { exposedNames, hasPromtool, metricNames, promtool } from '../support/promql.js';

/** config/prometheus/alerts.yml (CONTRACT section 12): valid for promtool, each alert proven to fire, on real metric names. */

const path = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));
const RULES = path('../../config/prometheus/alerts.yml');
const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: AlertRule[] }[] }).groups.flatMap((group) => group.rules);

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Series Prometheus makes itself for every scrape target, beside what the target exposes. */
const SCRAPE_SERIES = new Set(['up']);

describe('config/prometheus/alerts.yml', () => {
  const suite = withSimAndGateway();

  it('alerts on a tenant over its alert threshold, blocked tenants, an open circuit, many server errors, the budget store away, failing jobs, a ledger backlog and usage set aside', () => {
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'BudgetGatewayTenantOverAlertThreshold',
        'BudgetGatewayTenantBlocked',
        'BudgetGatewayCircuitOpen',
        'BudgetGatewayHighErrorRate',
        'BudgetGatewayBudgetStoreUnavailable',
        'BudgetGatewayJobFailing',
        'BudgetGatewayLedgerBacklog',
        'BudgetGatewayUsageSetAside',
      ]),
    );
  });

  it('gives every alert a for: window, a severity and a summary and description', () => {
    for (const rule of rules) {
      expect({ alert: rule.alert, for: rule.for }).toEqual({ alert: rule.alert, for: expect.stringMatching(/^\d+[smh]$/) });
      expect(['info', 'warning', 'critical']).toContain(rule.labels?.severity);
      expect(Object.keys(rule.annotations ?? {}).sort()).toEqual(['description', 'summary']);
    }
  });

  it('names only metrics a running gateway exposes (and the up series of its scrape)', async () => {
    const exposed = exposedNames(await suite.gateway.metrics());
    const unknown = rules.flatMap((rule) => metricNames(rule.expr)).filter((name) => !exposed.has(name) && !SCRAPE_SERIES.has(name));
    expect(unknown).toEqual([]);
  });

  it('passes promtool check rules, and its unit tests (test/deploy/alerts.promtool.yml)', (ctx) => {
    if (!hasPromtool()) {
      if (process.env.CI) throw new Error('promtool is missing: .ci/run installs it (apt-get install prometheus)');
      ctx.skip('promtool not installed: apt-get install prometheus');
    }
    expect(promtool('check', 'rules', RULES)).toEqual({ code: 0, output: expect.stringContaining(`SUCCESS: ${rules.length} rules found`) });
    expect(promtool('test', 'rules', path('alerts.promtool.yml'))).toEqual({ code: 0, output: expect.stringContaining('SUCCESS') });
  });
});
