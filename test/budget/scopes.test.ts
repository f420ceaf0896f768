import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/budget/duration.js';
import { amountsFor, budgetsFor, overallStatus, refusalCode, thresholdsReached, tightest, type TenantLimits } from '../../src/budget/scopes.js';
import { tenantLimits } from '../support/tenants.js';

const T0 = Date.UTC(2026, 10, 1);
const DAY = 86_400_000;

const tenant: TenantLimits = tenantLimits(T0, { modelBudgets: { 'gpt-4o': 20_000_000 }, maxTokens: 1_000_000, maxRequests: 500 });
const global = {
  maxBudgetMicros: 1_000_000_000,
  alertThresholds: [50, 90],
  graceThreshold: 100,
  period: { startMs: T0, endMs: Date.UTC(2026, 11, 1) },
  duration: parseDuration('1mo'),
  anchorMs: Date.UTC(2026, 11, 1),
};

describe('the budgets of a request', () => {
  it('lists global, tenant (USD, tokens, requests), model and key budgets, each with its own bucket', () => {
    const budgets = budgetsFor({ tenant, global, keyId: 'key_1', keyBudgetMicros: 5_000_000, model: 'gpt-4o', nowMs: T0 + DAY });
    expect(budgets.map((b) => [b.scope, b.unit, b.lines.effectiveMicros, b.lines.blockLineMicros])).toEqual([
      ['global', 'usd', 1_000_000_000, 1_000_000_000],
      ['tenant', 'usd', 100_000_000, 110_000_000],
      ['tenant', 'tokens', 1_000_000, 1_100_000],
      ['tenant', 'requests', 500, 550],
      ['model:gpt-4o', 'usd', 20_000_000, 22_000_000],
      ['key:key_1', 'usd', 5_000_000, 5_500_000],
    ]);
    expect(new Set(budgets.map((b) => b.key)).size).toBe(6);
    expect(budgets[0]!.ledger).toEqual({ kind: 'global' });
    expect(budgets[4]!.ledger).toEqual({ kind: 'model', tenantId: 'acme', model: 'gpt-4o' });
  });

  it('leaves out what does not apply: no cap, a model without a budget, a key without one, no limits', () => {
    const plain = { ...tenant, maxTokens: null, maxRequests: null };
    const budgets = budgetsFor({ tenant: plain, global: undefined, keyId: 'key_1', keyBudgetMicros: null, model: 'gpt-4o-mini', nowMs: T0 });
    expect(budgets.map((b) => b.scope)).toEqual(['tenant']);
  });

  it('gives the global cap its own period and the others the tenant’s, rolled at the boundary', () => {
    const at = Date.UTC(2026, 11, 3);
    const [g, t] = budgetsFor({ tenant, global, keyId: 'k', keyBudgetMicros: null, model: undefined, nowMs: at });
    expect(g!.period).toEqual({ startMs: Date.UTC(2026, 11, 1), endMs: Date.UTC(2027, 0, 1) });
    expect(t!.period).toEqual({ startMs: T0 + 30 * DAY, endMs: T0 + 60 * DAY });
    expect(g!.key).toBe(`global:${Date.UTC(2026, 11, 1)}:usd`);
  });

  it('holds the estimate in USD buckets, the tokens in token buckets and one request in request buckets', () => {
    const budgets = budgetsFor({ tenant, global, keyId: 'k', keyBudgetMicros: 1, model: 'gpt-4o', nowMs: T0 });
    expect(amountsFor(budgets, { micros: 1234, tokens: 56 })).toEqual([1234, 1234, 56, 1, 1234, 1234]);
  });

  it('describes the USD budget with the least room in the headers, even when none is used yet', () => {
    // Tenant $100, a $0.01 model budget and a $0.02 key budget, nothing spent: the model's refuses first.
    const small = { ...tenant, modelBudgets: { 'gpt-4o': 10_000 } };
    const budgets = budgetsFor({ tenant: small, global: undefined, keyId: 'k', keyBudgetMicros: 20_000, model: 'gpt-4o', nowMs: T0 });
    expect(budgets[tightest(budgets, budgets.map(() => 0))]!.scope).toBe('model:gpt-4o');
    // A tie goes to the first: the tenant's own.
    const even = budgetsFor({ tenant: { ...tenant, modelBudgets: { 'gpt-4o': tenant.maxBudgetMicros } }, global: undefined, keyId: 'k', keyBudgetMicros: null, model: 'gpt-4o', nowMs: T0 });
    expect(even[tightest(even, even.map(() => 0))]!.scope).toBe('tenant');
  });

  it('describes the USD budget closest to its line in the headers, and the worst status overall', () => {
    const budgets = budgetsFor({ tenant, global, keyId: 'k', keyBudgetMicros: 10_000_000, model: 'gpt-4o', nowMs: T0 });
    // global 10 %, tenant 50 %, tokens 99 % (grace territory is not USD), requests 0, model 60 %, key 85 %.
    const spends = [100_000_000, 50_000_000, 1_000_000, 0, 12_000_000, 8_500_000];
    expect(budgets[tightest(budgets, spends)]!.scope).toBe('key:k');
    expect(overallStatus(budgets, spends)).toBe('grace');
  });

  it('names the 402 code by unit', () => {
    expect([refusalCode('usd'), refusalCode('tokens'), refusalCode('requests')]).toEqual([
      'budget_exceeded',
      'token_budget_exceeded',
      'request_budget_exceeded',
    ]);
  });

  it('reaches each alert threshold at its own line', () => {
    const [g] = budgetsFor({ tenant, global, keyId: 'k', keyBudgetMicros: null, model: undefined, nowMs: T0 });
    expect(thresholdsReached(g!, 499_999_999)).toEqual([]);
    expect(thresholdsReached(g!, 500_000_000)).toEqual([50]);
    expect(thresholdsReached(g!, 900_000_000)).toEqual([50, 90]);
  });
});
