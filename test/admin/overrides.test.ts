import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { adminApi, contractError, type AdminApi } from '../support/admin.js';
import { startTestGateway, testDatabase, type TestGateway } from '../support/gateway.js';
import { outboxEvents, recordSpend } from '../support/ledger.js';
import { forEachStore } from '../support/stores.js';

const USD = 1_000_000;
const HOUR = 3_600_000;
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };
const grantBody = { override_amount: 50, duration: '24h', reason: 'quarter-end batch jobs' };

forEachStore('admin API: budget overrides', (store) => {
  let sim: SimLiteLLM;
  /** Two replicas with Redis (sharing it and the database); one with the in-process store. */
  let replicas: TestGateway[];
  let admin: AdminApi;
  let clock = Date.parse('2026-11-23T10:00:00.000Z');
  const now = () => clock;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    const env = { LITELLM_BASE_URL: sim.url, ...store.env() };
    const first = await startTestGateway(env, { now });
    replicas = store.kind === 'redis' ? [first, await startTestGateway(env, { now, database: await testDatabase() })] : [first];
    admin = adminApi(first.url);
  });
  afterAll(async () => {
    for (const replica of replicas) await replica.shutdown();
    await sim.close();
  });

  /** A tenant at its block line: $100 budget, $110 spent. */
  async function blockedTenant() {
    const gateway = replicas[0]!;
    const tenant = await gateway.createTenant({
      maxBudgetMicros: 100 * USD,
      firstPeriod: { startedAt: new Date(clock), resetAt: new Date(clock + 30 * 24 * HOUR) },
    });
    await recordSpend(gateway.db, tenant.tenantId, 110 * USD);
    return tenant;
  }

  const ask = (replica: TestGateway, key: string) => replica.client({ apiKey: key }).chat.completions.create(chat);

  it('a grant lifts a block at once on every replica; its removal restores it', async () => {
    const tenant = await blockedTenant();
    for (const replica of replicas) await expect(ask(replica, tenant.key)).rejects.toMatchObject({ status: 402 });

    const granted = await admin.post(`/tenants/${tenant.tenantId}/budget-override`, grantBody);
    expect(granted.status).toBe(201);
    expect(granted.body).toEqual({
      success: true,
      tenant_id: tenant.tenantId,
      override_amount: 50,
      new_max_budget: 150,
      expires_at: new Date(clock + 24 * HOUR).toISOString(),
    });
    for (const replica of replicas) expect((await ask(replica, tenant.key)).choices).toHaveLength(1);
    expect((await admin.get(`/tenants/${tenant.tenantId}`)).body).toMatchObject({
      effective_budget: 150,
      override: { override_amount: 50, reason: grantBody.reason, created_by: expect.stringMatching(/^admin:/) },
    });

    const removed = await admin.delete(`/tenants/${tenant.tenantId}/budget-override`);
    expect(removed).toMatchObject({ status: 200, body: { success: true, tenant_id: tenant.tenantId, max_budget: 100 } });
    for (const replica of replicas) await expect(ask(replica, tenant.key)).rejects.toMatchObject({ status: 402 });
    expect((await admin.delete(`/tenants/${tenant.tenantId}/budget-override`)).status).toBe(404);

    const audit = (await admin.get(`/audit?tenant_id=${tenant.tenantId}`)).body.data.map((e: { event: string }) => e.event);
    expect(audit).toEqual(expect.arrayContaining(['budget_override_granted', 'budget_override_removed']));
    expect(await outboxEvents(replicas[0]!.db, tenant.tenantId, 'budget_override_granted')).toHaveLength(1);
    expect(await outboxEvents(replicas[0]!.db, tenant.tenantId, 'budget_override_removed')).toHaveLength(1);
  });

  it('expires to the second, before any job has run', async () => {
    const tenant = await blockedTenant();
    await admin.post(`/tenants/${tenant.tenantId}/budget-override`, { ...grantBody, duration: '1h' });
    const grantedAt = clock;
    try {
      clock = grantedAt + HOUR - 1_000;
      expect((await ask(replicas[0]!, tenant.key)).choices).toHaveLength(1);
      clock = grantedAt + HOUR;
      for (const replica of replicas) await expect(ask(replica, tenant.key)).rejects.toMatchObject({ status: 402 });
      expect((await admin.get(`/tenants/${tenant.tenantId}`)).body).toMatchObject({ override: null, effective_budget: 100, status: 'blocked' });
    } finally {
      clock = grantedAt;
    }
  });

  it('refuses a second active override with 409 unless ?replace=true', async () => {
    const tenant = await blockedTenant();
    expect((await admin.post(`/tenants/${tenant.tenantId}/budget-override`, grantBody)).status).toBe(201);
    const again = await admin.post(`/tenants/${tenant.tenantId}/budget-override`, { ...grantBody, override_amount: 5 });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject(contractError('override_active', 'invalid_request_error'));
    expect(again.body.error.message).toContain('replace=true');

    const replaced = await admin.post(`/tenants/${tenant.tenantId}/budget-override?replace=true`, { ...grantBody, override_amount: 5 });
    expect(replaced).toMatchObject({ status: 201, body: { override_amount: 5, new_max_budget: 105 } });
    expect((await admin.get(`/tenants/${tenant.tenantId}`)).body.effective_budget).toBe(105);
  });

  it('lets exactly one of many concurrent grants in', async () => {
    const tenant = await blockedTenant();
    const answers = await Promise.all(Array.from({ length: 8 }, () => admin.post(`/tenants/${tenant.tenantId}/budget-override`, grantBody)));
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
  });

  it('a new grant after an override expired (job not run yet) is not a conflict', async () => {
    const tenant = await blockedTenant();
    await admin.post(`/tenants/${tenant.tenantId}/budget-override`, { ...grantBody, duration: '1h' });
    const grantedAt = clock;
    try {
      clock = grantedAt + 2 * HOUR;
      expect((await admin.post(`/tenants/${tenant.tenantId}/budget-override`, grantBody)).status).toBe(201);
      // The grant recorded the expiry the clean-up job had not got to; the job does not record it again.
      await replicas[0]!.services.scheduler.runNow('override_expiry');
      const expired = (await admin.get(`/audit?tenant_id=${tenant.tenantId}&event=budget_override_expired`)).body.data;
      expect(expired).toEqual([expect.objectContaining({ details: { override_amount: 50, expires_at: new Date(grantedAt + HOUR).toISOString() } })]);
      expect(await outboxEvents(replicas[0]!.db, tenant.tenantId, 'budget_override_expired')).toHaveLength(1);
    } finally {
      clock = grantedAt;
    }
  });

  it.each([
    [{ ...grantBody, override_amount: 0 }, 'override_amount'],
    [{ ...grantBody, override_amount: -5 }, 'override_amount'],
    [{ ...grantBody, duration: '1mo' }, 'duration'],
    [{ ...grantBody, duration: '0h' }, 'duration'],
    [{ ...grantBody, reason: 'too short' }, 'reason'],
    [{ override_amount: 5, duration: '1h' }, 'reason'],
  ])('refuses %j with 422 naming %s', async (body, path) => {
    const tenant = await blockedTenant();
    const res = await admin.post(`/tenants/${tenant.tenantId}/budget-override`, body);
    expect(res.status).toBe(422);
    expect(res.body.error.details).toEqual([expect.objectContaining({ path })]);
  });
});
