import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { tenants } from '../../src/db/schema.js';
import { deleteTenant, getTenant, upsertTenant } from '../../src/db/tenants.js';
import { resetDueTenants } from '../../src/jobs/budget-reset.js';
import { resetBudgetNow } from '../../src/jobs/manual-reset.js';
import { createLogger } from '../../src/logger.js';
import { MemorySpendStore } from '../../src/store/memory.js';
import { forEachDatabase } from '../support/databases.js';
import { createTenant, tenantConfig } from '../support/tenants.js';

const at = (iso: string): Date => new Date(iso);
const HOUR = 3_600_000;
const logger = createLogger('silent');

/** Every writer of a tenant's period keeps it on the grid anchor + k·duration (CONTRACT section 3). */
forEachDatabase('the period grid in every writer', (t) => {
  const store = new MemorySpendStore(() => {}, Date.now);
  const jobDeps = () => ({ db: t.db, store, logger, litellmSync: false });
  const resetDeps = () => ({ ...jobDeps(), invalidation: { publish: async () => {}, close: async () => {} } });
  const stored = async (tenantId: string) => {
    const row = (await getTenant(t.db, tenantId))!;
    return [row.periodStartedAt.toISOString(), row.budgetResetAt.toISOString(), row.periodAnchorAt?.toISOString() ?? null];
  };
  const monthly = (start: string, end: string) =>
    createTenant(t.db, { budgetDuration: '1mo', firstPeriod: { startedAt: at(start), resetAt: at(end) } });

  it('anchors a new tenant at its first budget_reset_at', async () => {
    const tenant = await monthly('2025-01-10T00:00:00Z', '2025-01-31T00:00:00Z');
    expect(await stored(tenant.tenantId)).toEqual(['2025-01-10T00:00:00.000Z', '2025-01-31T00:00:00.000Z', '2025-01-31T00:00:00.000Z']);
  });

  it('keeps monthly resets on the 31st through February when the job runs every month', async () => {
    const tenant = await monthly('2025-01-10T00:00:00Z', '2025-01-31T00:00:00Z');
    await resetDueTenants(jobDeps(), at('2025-02-01T00:00:00Z').getTime());
    expect(await stored(tenant.tenantId)).toEqual(['2025-01-31T00:00:00.000Z', '2025-02-28T00:00:00.000Z', '2025-01-31T00:00:00.000Z']);
    await resetDueTenants(jobDeps(), at('2025-03-01T00:00:00Z').getTime());
    expect(await stored(tenant.tenantId)).toEqual(['2025-02-28T00:00:00.000Z', '2025-03-31T00:00:00.000Z', '2025-01-31T00:00:00.000Z']);
  });

  it('writes the anchor of a row stored before anchors existed before moving its end', async () => {
    const tenant = await monthly('2025-01-10T00:00:00Z', '2025-01-31T00:00:00Z');
    await t.db.update(tenants).set({ periodAnchorAt: null }).where(eq(tenants.tenantId, tenant.tenantId));
    await resetDueTenants(jobDeps(), at('2025-03-05T00:00:00Z').getTime());
    expect(await stored(tenant.tenantId)).toEqual(['2025-02-28T00:00:00.000Z', '2025-03-31T00:00:00.000Z', '2025-01-31T00:00:00.000Z']);
  });

  describe('a PUT of the config', () => {
    const replace = (tenantId: string, change: Parameters<typeof tenantConfig>[0]) =>
      upsertTenant(t.db, tenantConfig({ tenantId, budgetDuration: '1mo', ...change }));

    it('moves the current end to a new budget_reset_at and anchors the grid there', async () => {
      const tenant = await monthly('2025-01-01T00:00:00Z', '2025-02-01T00:00:00Z');
      await replace(tenant.tenantId, { budgetResetAt: at('2025-01-31T00:00:00Z'), nowMs: at('2025-01-15T00:00:00Z').getTime() });
      expect(await stored(tenant.tenantId)).toEqual(['2025-01-01T00:00:00.000Z', '2025-01-31T00:00:00.000Z', '2025-01-31T00:00:00.000Z']);
    });

    it('applies a new duration from the next reset: the period keeps its end, the grid starts there', async () => {
      const tenant = await monthly('2025-01-01T00:00:00Z', '2025-02-01T00:00:00Z');
      await replace(tenant.tenantId, { budgetDuration: '1w', nowMs: at('2025-01-15T00:00:00Z').getTime() });
      expect(await stored(tenant.tenantId)).toEqual(['2025-01-01T00:00:00.000Z', '2025-02-01T00:00:00.000Z', '2025-02-01T00:00:00.000Z']);
      await resetDueTenants(jobDeps(), at('2025-02-10T00:00:00Z').getTime());
      expect(await stored(tenant.tenantId)).toEqual(['2025-02-08T00:00:00.000Z', '2025-02-15T00:00:00.000Z', '2025-02-01T00:00:00.000Z']);
    });

    it('rolls a period that already ended (job not run yet) before applying a new duration to the next one', async () => {
      const tenant = await monthly('2025-01-01T00:00:00Z', '2025-02-01T00:00:00Z');
      await replace(tenant.tenantId, { budgetDuration: '1w', nowMs: at('2025-02-10T00:00:00Z').getTime() });
      expect(await stored(tenant.tenantId)).toEqual(['2025-02-01T00:00:00.000Z', '2025-03-01T00:00:00.000Z', '2025-03-01T00:00:00.000Z']);
    });

    it('leaves period and grid alone when only the budget changes or the end is echoed back', async () => {
      const tenant = await monthly('2025-01-10T00:00:00Z', '2025-01-31T00:00:00Z');
      await resetDueTenants(jobDeps(), at('2025-02-01T00:00:00Z').getTime());
      await replace(tenant.tenantId, { maxBudgetMicros: 5_000_000, nowMs: at('2025-02-02T00:00:00Z').getTime() });
      await replace(tenant.tenantId, { budgetResetAt: at('2025-02-28T00:00:00Z'), nowMs: at('2025-02-03T00:00:00Z').getTime() });
      expect(await stored(tenant.tenantId)).toEqual(['2025-01-31T00:00:00.000Z', '2025-02-28T00:00:00.000Z', '2025-01-31T00:00:00.000Z']);
    });
  });

  describe('a manual reset', () => {
    it('starts the period now and keeps its end while that is in the future', async () => {
      const tenant = await monthly('2025-01-10T00:00:00Z', '2025-01-31T00:00:00Z');
      const nowMs = at('2025-01-20T12:00:00Z').getTime();
      expect(await resetBudgetNow(resetDeps(), tenant.tenantId, 'admin:test', nowMs)).toBe(true);
      expect(await stored(tenant.tenantId)).toEqual(['2025-01-20T12:00:00.000Z', '2025-01-31T00:00:00.000Z', '2025-01-31T00:00:00.000Z']);
    });

    it('ends at the next boundary on the grid when the stored end has passed', async () => {
      const tenant = await monthly('2025-01-10T00:00:00Z', '2025-01-31T00:00:00Z');
      const nowMs = at('2025-03-15T00:00:00Z').getTime() + HOUR;
      await resetBudgetNow(resetDeps(), tenant.tenantId, 'admin:test', nowMs);
      expect(await stored(tenant.tenantId)).toEqual(['2025-03-15T01:00:00.000Z', '2025-03-31T00:00:00.000Z', '2025-01-31T00:00:00.000Z']);
    });

    it('answers false for a tenant that does not exist, or no longer does', async () => {
      expect(await resetBudgetNow(resetDeps(), 'no-such-tenant', 'admin:test', Date.now())).toBe(false);
      const tenant = await monthly('2025-01-10T00:00:00Z', '2025-01-31T00:00:00Z');
      await deleteTenant(t.db, tenant.tenantId);
      expect(await resetBudgetNow(resetDeps(), tenant.tenantId, 'admin:test', Date.now())).toBe(false);
    });
  });
});
