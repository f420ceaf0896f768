import { formatUsd } from '../budget/money.js';
import { thresholdsReached, type ScopedBudget } from '../budget/scopes.js';
import { statusOf } from '../budget/thresholds.js';
import type { Db } from '../db/client.js';
import { recordCrossing, type Crossing } from '../db/alerts.js';
import { repeatedLogs, type Logger } from '../logger.js';
import { RetryLoop } from '../retry-loop.js';
import { quantity } from './budget-headers.js';

export interface CrossingSeen {
  /** The tenant whose budget it is; null for the global cap. */
  readonly ownerId: string | null;
  readonly budget: ScopedBudget;
  /** Settled spend, in the budget's unit. */
  readonly spend: number;
}

/** Crossings kept to be written again at most; beyond, a later request past the line tries again. */
const MAX_RETRYING = 10_000;

/**
 * Turns "this budget has reached a threshold (or its block line) in this period" into one
 * `budget_alert` / `budget_blocked` audit entry and notification per threshold and period
 * (CONTRACT sections 8 and 11). The database decides which replica was first; the in-process
 * memory only spares it from being asked on every request.
 */
export class CrossingRecorder {
  readonly #seen = new Set<string>();
  /** Crossings the database did not take, by id: written again every `retryMs` until it does. */
  readonly #retrying = new Map<string, Crossing>();
  readonly #retry: RetryLoop;
  #stopped = false;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    /** How often crossings the database did not take are written again. */
    retryMs = 5_000,
  ) {
    this.#retry = new RetryLoop(retryMs, () => this.#writeAgain(), () => this.#retrying.size > 0);
  }

  /** No more writes again after this (shutdown). */
  stop(): Promise<void> {
    this.#stopped = true;
    return this.#retry.stop();
  }

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
    void this.#write(id, {
      tenantId: ownerId,
      scope,
      kind,
      threshold,
      periodStartedAt: new Date(budget.period.startMs),
      actor: 'gateway',
      details: data,
      notification: { event: kind === 'alert' ? 'budget_alert' : 'budget_blocked', message, data },
    });
  }

  /**
   * Writes the crossing; one the database did not take is written again every `retryMs` until it
   * does (the tenant may send nothing more this period), and at most once all the same: the
   * database keeps one per threshold and period.
   */
  async #write(id: string, crossing: Crossing): Promise<boolean> {
    const { tenantId, scope, kind, threshold } = crossing;
    try {
      if (await recordCrossing(this.db, crossing)) this.logger.info({ tenant: tenantId, scope, kind, threshold }, `budget ${kind} recorded`);
      this.#retrying.delete(id);
      return true;
    } catch (err) {
      repeatedLogs(this.logger).warn({ tenant: tenantId, scope, kind, err: (err as Error).message }, 'could not record a budget crossing');
      if (this.#stopped || (this.#retrying.size >= MAX_RETRYING && !this.#retrying.has(id))) {
        // Forget it, so a later request past the line tries again.
        this.#seen.delete(id);
        return false;
      }
      this.#retrying.set(id, crossing);
      this.#retry.ask();
      return false;
    }
  }

  async #writeAgain(): Promise<void> {
    for (const [id, crossing] of [...this.#retrying]) {
      // The database still away: the rest waits for the next round.
      if (!(await this.#write(id, crossing))) break;
    }
  }
}
