import { randomBytes } from 'node:crypto';
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
