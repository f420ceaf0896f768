import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { sample } from '../support/gateway.js';

describe('the set-aside gauge, read from the database at scrape time', () => {
  it('shows the count, and keeps the last one while the database fails or hangs, without holding the scrape', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    let source: () => Promise<number> = async () => 3;
    metrics.countLedgerSetAsideWith(() => source());
    const scrape = async () => sample(await metrics.registry.metrics(), 'budget_gateway_ledger_set_aside');

    expect(await scrape()).toBe(3);
    source = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    expect(await scrape()).toBe(3);
    // A database that never answers: the scrape still ends (without the bound it would hang, and the test time out).
    source = () => new Promise(() => {});
    expect(await scrape()).toBe(3);
    source = async () => 0;
    expect(await scrape()).toBe(0);
  });
});

describe('requests decided without the budget store', () => {
  it('are counted by outcome from 0, so an alert on their increase sees the first outage', async () => {
    const text = await createMetrics({ defaultMetrics: false }).registry.metrics();
    const lines = text.split('\n').filter((l) => l.startsWith('budget_gateway_budget_store_unavailable_total{'));
    expect(lines.sort()).toEqual(['budget_gateway_budget_store_unavailable_total{outcome="admitted"} 0', 'budget_gateway_budget_store_unavailable_total{outcome="refused"} 0']);
  });
});
