import { randomBytes } from 'node:crypto';
import { parseDuration } from '../../src/budget/duration.js';
import type { TenantLimits } from '../../src/budget/scopes.js';
import type { Db } from '../../src/db/client.js';
import type { Tenant } from '../../src/db/schema.js';
import { upsertTenant, type TenantConfig } from '../../src/db/tenants.js';

/** A unique tenant id, so tests sharing a database never see each other's rows. */
export function tenantId(label = 'tenant'): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

/** A tenant config with a $100 budget and a 30-day period starting now; `overrides` win. */
export function tenantConfig(overrides: Partial<TenantConfig> = {}): TenantConfig {
  const startedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
  return {
    tenantId: tenantId(),
    name: null,
    maxBudgetMicros: 100_000_000,
    alertThreshold: 80,
    graceThreshold: 110,
    budgetDuration: '30d',
    firstPeriod: { startedAt, resetAt: new Date(startedAt.getTime() + 30 * 86_400_000) },
    ...overrides,
  };
}

export async function createTenant(db: Db, overrides: Partial<TenantConfig> = {}): Promise<Tenant> {
  return (await upsertTenant(db, tenantConfig(overrides))).tenant;
}

/**
 * A tenant's limits as the pure budget code sees them: $100 (or `overrides`), alert at 80 %,
 * block at 110 %, a 30-day period from `startMs`, no override and no other scopes.
 */
export function tenantLimits(startMs: number, overrides: Partial<TenantLimits> = {}): TenantLimits {
  const endMs = startMs + 30 * 86_400_000;
  return {
    tenantId: 'acme',
    maxBudgetMicros: 100_000_000,
    alertThresholds: [80],
    graceThreshold: 110,
    period: { startMs, endMs },
    duration: parseDuration('30d'),
    anchorMs: endMs,
    override: undefined,
    modelBudgets: null,
    maxTokens: null,
    maxRequests: null,
    ...overrides,
  };
}
