import { eq, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { globalBudget, type GlobalBudget } from './schema.js';

/** The system-wide cap (CONTRACT section 11): one row, or none when no cap is set. */

const ID = 'global';

export interface GlobalBudgetConfig {
  readonly maxBudgetMicros: number;
  readonly alertThreshold: number;
  readonly alertThresholds: number[] | null;
  readonly graceThreshold: number;
  readonly budgetDuration: string;
  /** Used only when the cap is created: its first period. */
  readonly firstPeriod: { readonly startedAt: Date; readonly resetAt: Date };
}

export async function getGlobalBudget(db: Db): Promise<GlobalBudget | undefined> {
  const [row] = await db.select().from(globalBudget).where(eq(globalBudget.id, ID));
  return row;
}

/**
 * Sets the cap. Replacing it keeps its period and spend, like a tenant's PUT; a new duration
 * applies from the next reset (the grid restarts at the current end).
 */
export async function putGlobalBudget(db: Db, config: GlobalBudgetConfig): Promise<{ created: boolean; row: GlobalBudget }> {
  const settings = {
    maxBudgetMicros: config.maxBudgetMicros,
    alertThreshold: config.alertThreshold,
    alertThresholds: config.alertThresholds,
    graceThreshold: config.graceThreshold,
    budgetDuration: config.budgetDuration,
  };
  return db.transaction(async (tx) => {
    const [current] = await tx.select().from(globalBudget).where(eq(globalBudget.id, ID)).for('update');
    if (current) {
      const durationChanged = current.budgetDuration !== config.budgetDuration;
      const [row] = await tx
        .update(globalBudget)
        .set({ ...settings, ...(durationChanged ? { periodAnchorAt: current.budgetResetAt } : {}), updatedAt: sql`now()` })
        .where(eq(globalBudget.id, ID))
        .returning();
      return { created: false, row: row! };
    }
    const [row] = await tx
      .insert(globalBudget)
      .values({
        id: ID,
        ...settings,
        periodStartedAt: config.firstPeriod.startedAt,
        budgetResetAt: config.firstPeriod.resetAt,
        periodAnchorAt: config.firstPeriod.resetAt,
      })
      .returning();
    return { created: true, row: row! };
  });
}

export async function deleteGlobalBudget(db: Db): Promise<boolean> {
  const deleted = await db.delete(globalBudget).where(eq(globalBudget.id, ID)).returning({ id: globalBudget.id });
  return deleted.length > 0;
}

/** Stores a new period (the reset job, once the current one has ended). */
export async function rollGlobalPeriod(db: Db, from: Date, period: { startedAt: Date; resetAt: Date }): Promise<boolean> {
  const rolled = await db
    .update(globalBudget)
    .set({ periodStartedAt: period.startedAt, budgetResetAt: period.resetAt, periodAnchorAt: sql`coalesce(${globalBudget.periodAnchorAt}, ${globalBudget.budgetResetAt})` })
    .where(eq(globalBudget.budgetResetAt, from))
    .returning({ id: globalBudget.id });
  return rolled.length > 0;
}
