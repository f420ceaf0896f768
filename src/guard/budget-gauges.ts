import { budgetsFor, globalScope, type PeriodicLimit, type ScopedBudget } from '../budget/scopes.js';
import type { SpendStore } from '../budget/spend-store.js';
import { utilization } from '../budget/thresholds.js';
import type { Db } from '../db/client.js';
import { gaugeChildren, type Metrics } from '../metrics.js';
import { budgetStates } from './budget-states.js';
import type { Caller, TenantPolicy } from './tenant-directory.js';

type Gauge = { set(value: number): void };

/**
 * Utilization gauges kept by label (plans hold their own): at most one per tenant label and
 * scope label, both capped (src/metrics.ts), and dropping them only costs a lookup again.
 */
const UTILIZATION_CHILDREN = 10_000;

/** What a series of the budget gauges stands for, to compute it again at a scrape. */
interface Series {
  readonly tenantLabel: string;
  readonly scopeLabel: string;
  /** The scope as the budget names it (`tenant`, `model:<name>`, `key:<id>`, `global`). */
  readonly scope: string;
  /** Null for the global cap. */
  readonly tenantId: string | null;
  readonly keyId: string;
  readonly keyBudgetMicros: number | null;
  readonly model: string | undefined;
}

/** What a scrape reads the budgets from: the tenants and the global cap as cached, and where spend is. */
export interface GaugeSources {
  tenant(tenantId: string): Promise<TenantPolicy | undefined>;
  global(): PeriodicLimit | undefined | Promise<PeriodicLimit | undefined>;
  readonly store: SpendStore;
  readonly db: Db;
  now(): number;
}

/**
 * The per-tenant budget gauges (CONTRACT section 10: `budget_gateway_tenant_budget_usd`, the
 * effective budget, and `budget_gateway_tenant_utilization_ratio`; beside them
 * `budget_gateway_tenant_threshold_ratio`, the thresholds utilization alerts and blocks at). Requests set them as they
 * settle; a scrape sets them again from the tenant's budget and spend as they stand then, since
 * what moves them without a request (a period's end, an override's expiry, an admin's reset or
 * new budget, on any replica) would otherwise leave a blocked tenant reading blocked, and its
 * alert firing, until its next request.
 */
export class BudgetGauges {
  readonly #series = new Map<string, Series>();
  readonly #utilization: (tenant: string, scope: string) => Gauge;

  constructor(private readonly metrics: Metrics) {
    this.#utilization = gaugeChildren(metrics.tenantUtilization, UTILIZATION_CHILDREN);
  }

  /** Sets each USD budget's gauge of the effective budget, and returns its utilization gauge (a plan's, on the hot path). */
  track(caller: Caller, model: string | undefined, budgets: readonly ScopedBudget[]): (Gauge | undefined)[] {
    return budgets.map((budget) => {
      if (budget.unit !== 'usd') return undefined;
      const global = budget.scope === 'global';
      const tenantLabel = global ? '' : this.metrics.tenantLabel(caller.tenant.tenantId);
      const scopeLabel = this.metrics.scopeLabel(budget.scope);
      this.#setBudget(tenantLabel, scopeLabel, budget);
      const label = `${tenantLabel}\n${scopeLabel}`;
      if (this.#series.size < UTILIZATION_CHILDREN || this.#series.has(label)) {
        this.#series.set(label, {
          tenantLabel,
          scopeLabel,
          scope: budget.scope,
          tenantId: global ? null : caller.tenant.tenantId,
          keyId: caller.keyId,
          keyBudgetMicros: caller.keyBudgetMicros,
          model,
        });
      }
      return this.#utilization(tenantLabel, scopeLabel);
    });
  }

  /**
   * Every series computed again as its budget stands now: the tenant as cached (admin changes
   * invalidate it on every replica), its period and override as of now, spend from the store or,
   * for a period the store has not seen yet, the ledger. A series whose tenant or budget is gone
   * is dropped.
   */
  async refresh(sources: GaugeSources): Promise<void> {
    const nowMs = sources.now();
    const global = await sources.global();
    const found: { series: Series; budget: ScopedBudget }[] = [];
    for (const [label, series] of this.#series) {
      const budget = await budgetNow(series, global, nowMs, sources);
      if (budget) found.push({ series, budget });
      else {
        this.#series.delete(label);
        this.metrics.tenantBudget.remove(series.tenantLabel, series.scopeLabel);
        this.metrics.tenantUtilization.remove(series.tenantLabel, series.scopeLabel);
        this.metrics.tenantThreshold.remove(series.tenantLabel, series.scopeLabel, 'alert');
        this.metrics.tenantThreshold.remove(series.tenantLabel, series.scopeLabel, 'block');
      }
    }
    const states = await budgetStates(sources, found.map((f) => f.budget));
    found.forEach(({ series, budget }, i) => {
      this.#setBudget(series.tenantLabel, series.scopeLabel, budget);
      this.#utilization(series.tenantLabel, series.scopeLabel).set(utilization(states[i]!.spend, budget.lines.effectiveMicros));
    });
  }

  /** The effective budget, and the thresholds its utilization alerts and blocks at (per tenant, so alert rules need no fixed numbers). */
  #setBudget(tenantLabel: string, scopeLabel: string, budget: ScopedBudget): void {
    this.metrics.tenantBudget.labels(tenantLabel, scopeLabel).set(budget.lines.effectiveMicros / 1e6);
    this.metrics.tenantThreshold.labels(tenantLabel, scopeLabel, 'alert').set(budget.alertThresholds[0]! / 100);
    this.metrics.tenantThreshold.labels(tenantLabel, scopeLabel, 'block').set(budget.graceThreshold / 100);
  }
}

async function budgetNow(series: Series, global: PeriodicLimit | undefined, nowMs: number, sources: GaugeSources): Promise<ScopedBudget | undefined> {
  if (series.tenantId === null) return global && globalScope(global, nowMs);
  const tenant = await sources.tenant(series.tenantId);
  if (!tenant) return undefined;
  const budgets = budgetsFor({ tenant, global: undefined, keyId: series.keyId, keyBudgetMicros: series.keyBudgetMicros, model: series.model, nowMs });
  return budgets.find((b) => b.unit === 'usd' && b.scope === series.scope);
}
