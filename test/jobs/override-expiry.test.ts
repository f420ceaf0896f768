import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budgetOverrides } from '../../src/db/schema.js';
import { expireOverrides } from '../../src/jobs/override-expiry.js';
import { createLogger } from '../../src/logger.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { auditEvents, outboxEvents, recordSpend } from '../support/ledger.js';
import { chat, JOBS_BY_HAND } from '../support/resets.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);

describe('the override expiry job (a controllable clock)', () => {
  let sim: SimLiteLLM;
  let gateway: TestGateway;
  let clock = T0;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    const env = { LITELLM_BASE_URL: sim.url, LITELLM_MASTER_KEY: 'sk-master-test', ...JOBS_BY_HAND };
    gateway = await startTestGateway(env, { now: () => clock });
  });
  afterAll(async () => {
    await gateway.shutdown();
    await sim.close();
  });

  /** A tenant over its plain budget of 100 µ$ (block line 110), rescued by +1,000 µ$ until `expiresAtMs`. */
  const rescuedTenant = async (expiresAtMs: number) => {
    const tenant = await gateway.createTenant({ maxBudgetMicros: 100 });
    await recordSpend(gateway.db, tenant.tenantId, 150);
    const [override] = await gateway.db
      .insert(budgetOverrides)
      .values({ tenantId: tenant.tenantId, overrideAmountMicros: 1_000, expiresAt: new Date(expiresAtMs), reason: 'a demo this afternoon', createdBy: 'admin:0123abcd' })
      .returning();
    return { tenant, override: override! };
  };
  const overrideRow = async (id: string) => (await gateway.db.select().from(budgetOverrides).where(eq(budgetOverrides.id, id)))[0]!;

  it('lets a request at expires_at see the plain budget before the job has run', async () => {
    clock = T0;
    const { tenant, override } = await rescuedTenant(T0 + HOUR);
    clock = T0 + HOUR - 1_000;
    const during = await chat(gateway, tenant);
    expect([during.status, during.headers.get('x-budget-limit')]).toEqual([200, '0.0011']);

    clock = T0 + HOUR;
    const after = await chat(gateway, tenant);
    expect([after.status, after.headers.get('x-budget-limit')]).toEqual([402, '0.0001']);
    expect((await overrideRow(override.id)).endedAt).toBeNull();
  });

  it('ends each expired override once, as of its expiry, audited and notified, however many runs race', async () => {
    clock = T0;
    const expired = await rescuedTenant(T0 + HOUR);
    const open = await rescuedTenant(T0 + 3 * HOUR);
    clock = T0 + HOUR + 5 * MIN;
    const deps = { db: gateway.db, invalidation: gateway.services.invalidation, logger: createLogger('silent'), litellmSync: true };
    const outcomes = await Promise.all([
      gateway.services.scheduler.runNow('override_expiry'),
      gateway.services.scheduler.runNow('override_expiry'),
      expireOverrides(deps, clock),
    ]);
    expect(outcomes).toContain('success');
    expect(await gateway.services.scheduler.runNow('override_expiry')).toBe('success');

    expect(await overrideRow(expired.override.id)).toMatchObject({ endedAt: new Date(T0 + HOUR), endReason: 'expired' });
    expect((await overrideRow(open.override.id)).endedAt).toBeNull();
    const audits = await auditEvents(gateway.db, expired.tenant.tenantId, 'budget_override_expired');
    expect(audits.map((a) => [a.actor, a.details])).toEqual([
      ['job:override_expiry', { override_amount: 0.001, expires_at: new Date(T0 + HOUR).toISOString() }],
    ]);
    const notices = await outboxEvents(gateway.db, expired.tenant.tenantId, 'budget_override_expired');
    expect(notices.map((n) => n.message)).toEqual(['Temporary budget increase has expired']);
    const litellm = await outboxEvents(gateway.db, expired.tenant.tenantId, 'litellm_clear_temp_budget');
    expect(litellm.map((n) => [n.channel, n.data])).toEqual([['litellm', { tenant_id: expired.tenant.tenantId }]]);
    expect(await auditEvents(gateway.db, open.tenant.tenantId, 'budget_override_expired')).toEqual([]);
  });
});
