import { formatUsd } from '../budget/money.js';
import { thresholdsReached, type ScopedBudget } from '../budget/scopes.js';
import { statusOf } from '../budget/thresholds.js';
import type { Db } from '../db/client.js';
import { recordCrossing } from '../db/alerts.js';
import { repeatedLogs, type Logger } from '../logger.js';
import { quantity } from './budget-headers.js';

export interface CrossingSeen {
  /** The tenant whose budget it is; null for the global cap. */
  readonly ownerId: string | null;
  readonly budget: ScopedBudget;
  /** Settled spend, in the budget's unit. */
  readonly spend: number;
}

/**
 * Turns "this budget has reached a threshold (or its block line) in this period" into one
 * `budget_alert` / `budget_blocked` audit entry and notification per threshold and period
 * (CONTRACT sections 8 and 11). The database decides which replica was first; the in-process
 * memory only spares it from being asked on every request.
 */
export class CrossingRecorder {
  readonly #seen = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  /** Records what `seen.spend` has reached; never throws, never awaited by a client. */
  note(seen: CrossingSeen): void {
    // Below the lowest alert line (almost every request) there is nothing to record.
    if (seen.spend < seen.budget.lines.alertLineMicros && seen.budget.lines.effectiveMicros > 0) return;
    for (const threshold of thresholdsReached(seen.budget, seen.spend)) this.#record(seen, 'alert', threshold);
    if (statusOf(seen.spend, seen.budget.lines) === 'blocked') this.#record(seen, 'blocked', seen.budget.graceThreshold);
  }

  #record(seen: CrossingSeen, kind: 'alert' | 'blocked', threshold: number): void {
    const { budget, ownerId } = seen;
    const scope = budget.unit === 'usd' ? budget.scope : `${budget.scope}:${budget.unit}`;
    const id = `${ownerId ?? '*'}|${scope}|${kind}|${threshold}|${budget.period.startMs}`;
    if (this.#seen.has(id)) return;
    this.#seen.add(id);
    const usd = budget.unit === 'usd';
    const data = {
      tenant_id: ownerId,
      scope: budget.scope,
      unit: budget.unit,
      threshold,
      spend: usd ? Number(formatUsd(seen.spend)) : seen.spend,
      effective_budget: usd ? Number(formatUsd(budget.lines.effectiveMicros)) : budget.lines.effectiveMicros,
      period_started_at: new Date(budget.period.startMs).toISOString(),
    };
    const what = budget.scope === 'global' ? 'The global budget' : budget.scope === 'tenant' ? `Tenant ${ownerId}` : `Tenant ${ownerId} (${budget.scope})`;
    const used = `${quantity(budget.unit, seen.spend)} of ${quantity(budget.unit, budget.lines.effectiveMicros)}`;
    const message =
      kind === 'alert'
        ? `${what} has used ${threshold}% of its ${usd ? '' : `${budget.unit} `}budget: ${used}.`
        : `${what} is blocked: ${used} used (block line ${threshold}%).`;
    recordCrossing(this.db, {
      tenantId: ownerId,
      scope,
      kind,
      threshold,
      periodStartedAt: new Date(budget.period.startMs),
      actor: 'gateway',
      details: data,
      notification: { event: kind === 'alert' ? 'budget_alert' : 'budget_blocked', message, data },
    }).then(
      (first) => {
        if (first) this.logger.info({ tenant: ownerId, scope, kind, threshold }, `budget ${kind} recorded`);
      },
      (err: unknown) => {
        // Forget it, so a later request tries again once the database is back.
        this.#seen.delete(id);
        repeatedLogs(this.logger).warn({ tenant: ownerId, scope, kind, err: (err as Error).message }, 'could not record a budget crossing');
      },
    );
  }
}
