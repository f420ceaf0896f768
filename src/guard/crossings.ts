import { formatUsd } from '../budget/money.js';
import type { BudgetLines, BudgetStatus } from '../budget/thresholds.js';
import type { Db } from '../db/client.js';
import { recordCrossing } from '../db/alerts.js';
import type { Logger } from '../logger.js';

export interface CrossingSeen {
  readonly tenantId: string;
  readonly periodStartMs: number;
  readonly status: BudgetStatus;
  readonly spendMicros: number;
  readonly lines: BudgetLines;
  readonly alertThreshold: number;
  readonly graceThreshold: number;
}

/**
 * Turns "this tenant is at alert (or blocked) in this period" into one `budget_alert` /
 * `budget_blocked` audit entry and notification. The database decides which replica was first
 * (CONTRACT section 8); the in-process memory only spares it from being asked on every request.
 */
export class CrossingRecorder {
  readonly #seen = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  /** Records what `seen.status` has reached; never throws, never awaited by a client. */
  note(seen: CrossingSeen): void {
    if (seen.status === 'ok') return;
    this.#record(seen, 'alert', seen.alertThreshold);
    if (seen.status === 'blocked') this.#record(seen, 'blocked', seen.graceThreshold);
  }

  #record(seen: CrossingSeen, kind: 'alert' | 'blocked', threshold: number): void {
    const id = `${seen.tenantId}|${kind}|${threshold}|${seen.periodStartMs}`;
    if (this.#seen.has(id)) return;
    this.#seen.add(id);
    const data = {
      tenant_id: seen.tenantId,
      threshold,
      spend: Number(formatUsd(seen.spendMicros)),
      effective_budget: Number(formatUsd(seen.lines.effectiveMicros)),
      period_started_at: new Date(seen.periodStartMs).toISOString(),
    };
    const message =
      kind === 'alert'
        ? `Tenant ${seen.tenantId} has used ${threshold}% of its budget: $${formatUsd(seen.spendMicros)} of $${formatUsd(seen.lines.effectiveMicros)}.`
        : `Tenant ${seen.tenantId} is blocked: $${formatUsd(seen.spendMicros)} spent of $${formatUsd(seen.lines.effectiveMicros)} (block line ${threshold}%).`;
    recordCrossing(this.db, {
      tenantId: seen.tenantId,
      scope: 'tenant',
      kind,
      threshold,
      periodStartedAt: new Date(seen.periodStartMs),
      actor: 'gateway',
      details: data,
      notification: { event: kind === 'alert' ? 'budget_alert' : 'budget_blocked', message, data },
    }).then(
      (first) => {
        if (first) this.logger.info({ tenant: seen.tenantId, kind, threshold }, `budget ${kind} recorded`);
      },
      (err: unknown) => {
        // Forget it, so a later request tries again once the database is back.
        this.#seen.delete(id);
        this.logger.warn({ tenant: seen.tenantId, kind, err: (err as Error).message }, 'could not record a budget crossing');
      },
    );
  }
}
