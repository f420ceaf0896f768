import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { adminApi, contractError, type AdminApi } from '../support/admin.js';
import { chatCalls, startTestGateway, type TestGateway } from '../support/gateway.js';
import { recordSpend } from '../support/ledger.js';
import { forEachStore } from '../support/stores.js';
import { tenantId as newTenantId } from '../support/tenants.js';

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };
const HOUR = 3_600_000;

forEachStore('admin API: tenants', (store) => {
  let sim: SimLiteLLM;
  let gateway: TestGateway;
  let admin: AdminApi;
  let clock = Date.parse('2026-11-23T10:00:00.000Z');

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    gateway = await startTestGateway({ LITELLM_BASE_URL: sim.url, ...store.env() }, { now: () => clock });
    admin = adminApi(gateway.url);
  });
  afterAll(async () => {
    await gateway.shutdown();
    await sim.close();
  });

  describe('authentication', () => {
    it('refuses a missing, wrong or non-Bearer admin key with 401 in the contract shape', async () => {
      const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong-key-wrong-key' }, { authorization: 'Basic dGVzdDp0ZXN0' }];
      for (const headers of attempts) {
        const res = await adminApi(gateway.url, '').call('GET', '/tenants', undefined, headers);
        expect(res.status).toBe(401);
        expect(res.body).toMatchObject(contractError('invalid_api_key', 'authentication_error'));
      }
      expect((await admin.get('/tenants')).status).toBe(200);
    });

    it('records the key fingerprint as the actor, never the key', async () => {
      const id = newTenantId();
      await admin.put(`/tenants/${id}`, { max_budget: 5 });
      const { body } = await admin.get(`/audit?tenant_id=${id}`);
      expect(body.data[0].actor).toMatch(/^admin:[0-9a-f]{8}$/);
      expect(JSON.stringify(body)).not.toContain('test-admin-key');
    });
  });

  describe('PUT /admin/tenants/:tenant_id', () => {
    it('creates a tenant (201) with the contract defaults, and shows the tenant view', async () => {
      const id = newTenantId();
      const res = await admin.put(`/tenants/${id}`, { max_budget: 100, name: 'Acme' });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        tenant_id: id,
        name: 'Acme',
        max_budget: 100,
        alert_threshold: 80,
        alert_thresholds: null,
        grace_threshold: 110,
        budget_duration: '30d',
        budget_reset_at: new Date(clock + 30 * 24 * HOUR).toISOString(),
        period_started_at: new Date(clock).toISOString(),
        model_budgets: null,
        max_tokens: null,
        max_requests: null,
        spend: 0,
        reserved: 0,
        effective_budget: 100,
        utilization: 0,
        status: 'ok',
        override: null,
        budgets: [
          {
            scope: 'tenant',
            unit: 'usd',
            limit: 100,
            spend: 0,
            reserved: 0,
            utilization: 0,
            status: 'ok',
            period_started_at: new Date(clock).toISOString(),
            budget_reset_at: new Date(clock + 30 * 24 * HOUR).toISOString(),
          },
        ],
      });
      expect((await admin.get(`/tenants/${id}`)).body).toEqual(res.body);
      expect((await admin.get(`/audit?tenant_id=${id}&event=tenant_created`)).body.data).toHaveLength(1);
    });

    it('takes budget_reset_at for the first period (e.g. the 1st of next month for calendar months)', async () => {
      const id = newTenantId();
      const res = await admin.put(`/tenants/${id}`, { max_budget: 10, budget_duration: '1mo', budget_reset_at: '2026-12-01T00:00:00Z' });
      expect(res.body).toMatchObject({ budget_reset_at: '2026-12-01T00:00:00.000Z', period_started_at: new Date(clock).toISOString() });
    });

    it('replaces the configuration (200), keeping the period and its spend; the new budget applies to the next request', async () => {
      const tenant = await gateway.createTenant({ maxBudgetMicros: 10_000_000, firstPeriod: periodFrom(clock) });
      await recordSpend(gateway.db, tenant.tenantId, 9_000_000);
      await gateway.client({ apiKey: tenant.key }).chat.completions.create(chat);
      const before = (await admin.get(`/tenants/${tenant.tenantId}`)).body;

      const res = await admin.put(`/tenants/${tenant.tenantId}`, { max_budget: 8, grace_threshold: 100 });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        max_budget: 8,
        grace_threshold: 100,
        spend: before.spend,
        period_started_at: before.period_started_at,
        budget_reset_at: before.budget_reset_at,
        status: 'blocked',
      });
      await expect(gateway.client({ apiKey: tenant.key }).chat.completions.create(chat)).rejects.toMatchObject({ status: 402 });
      expect((await admin.get(`/audit?tenant_id=${tenant.tenantId}&event=tenant_updated`)).body.data).toHaveLength(1);
    });

    it('moves the current period end when budget_reset_at is replaced', async () => {
      const id = newTenantId();
      await admin.put(`/tenants/${id}`, { max_budget: 10 });
      const res = await admin.put(`/tenants/${id}`, { max_budget: 10, budget_reset_at: new Date(clock + 2 * HOUR).toISOString() });
      expect(res.body.budget_reset_at).toBe(new Date(clock + 2 * HOUR).toISOString());
      expect(res.body.period_started_at).toBe(new Date(clock).toISOString());
    });

    it('refuses bad fields with 422 and a detail per field', async () => {
      const id = newTenantId();
      const res = await admin.put(`/tenants/${id}`, {
        max_budget: 1.0000001,
        alert_threshold: 0,
        grace_threshold: 99,
        budget_duration: '30x',
        budget_reset_at: 'tomorrow',
        colour: 'blue',
      });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject(contractError('invalid_field', 'validation_error'));
      const paths = res.body.error.details.map((d: { path: string }) => d.path).sort();
      expect(paths).toEqual(['(body)', 'alert_threshold', 'budget_duration', 'budget_reset_at', 'grace_threshold', 'max_budget']);
      expect((await admin.get(`/tenants/${id}`)).status).toBe(404);
    });

    it.each([
      [{ max_budget: -1 }, 'max_budget'],
      [{ max_budget: '10' }, 'max_budget'],
      [{}, 'max_budget'],
      [{ max_budget: 1, alert_threshold: 100.5 }, 'alert_threshold'],
      [{ max_budget: 1, alert_threshold: 80.123 }, 'alert_threshold'],
      [{ max_budget: 1, budget_duration: '0d' }, 'budget_duration'],
      [{ max_budget: 1, budget_reset_at: '2020-01-01T00:00:00Z' }, 'budget_reset_at'],
      [{ max_budget: 1, name: 7 }, 'name'],
    ])('refuses %j with 422 naming %s', async (body, path) => {
      const res = await admin.put(`/tenants/${newTenantId()}`, body);
      expect(res.status).toBe(422);
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    });

    it('refuses malformed JSON (400), an oversized body (413) and a bad tenant id (422)', async () => {
      expect((await admin.call('PUT', `/tenants/${newTenantId()}`, '{"max_budget": ', { 'content-type': 'application/json' })).body).toMatchObject(
        contractError('invalid_json', 'invalid_request_error'),
      );
      const huge = await admin.put(`/tenants/${newTenantId()}`, { max_budget: 1, name: 'x'.repeat(100_000) });
      expect(huge.status).toBe(413);
      expect(huge.body).toMatchObject(contractError('request_too_large', 'invalid_request_error'));
      const bad = await admin.put(`/tenants/${encodeURIComponent('no spaces please')}`, { max_budget: 1 });
      expect(bad.status).toBe(422);
      expect(bad.body.error.details[0].path).toBe('tenant_id');
    });
  });

  describe('GET and DELETE', () => {
    it('answers 404 for an unknown tenant on every tenant route', async () => {
      const id = newTenantId('ghost');
      const answers = await Promise.all([
        admin.get(`/tenants/${id}`),
        admin.delete(`/tenants/${id}`),
        admin.post(`/tenants/${id}/keys`),
        admin.post(`/tenants/${id}/budget-override`, { override_amount: 1, duration: '1h', reason: 'long enough reason' }),
        admin.delete(`/tenants/${id}/budget-override`),
        admin.post(`/tenants/${id}/budget-reset`),
        admin.get(`/tenants/${id}/usage`),
      ]);
      for (const res of answers) {
        expect(res.status).toBe(404);
        expect(res.body).toMatchObject(contractError('not_found', 'invalid_request_error'));
      }
    });

    it('lists tenants in pages with a cursor, each once', async () => {
      const prefix = `page-${randomUUID().slice(0, 8)}`;
      const ids = [1, 2, 3, 4, 5].map((n) => `${prefix}-${n}`);
      for (const id of ids) await admin.put(`/tenants/${id}`, { max_budget: 1 });
      const seen: string[] = [];
      let cursor: string | null = `${prefix}-0`;
      while (cursor !== null) {
        const page: { body: { data: { tenant_id: string }[]; next_cursor: string | null } } = await admin.get(
          `/tenants?limit=2&cursor=${encodeURIComponent(cursor)}`,
        );
        expect(page.body.data.length).toBeLessThanOrEqual(2);
        seen.push(...page.body.data.map((t) => t.tenant_id).filter((t) => t.startsWith(prefix)));
        cursor = page.body.data.some((t) => !t.tenant_id.startsWith(prefix)) ? null : page.body.next_cursor;
      }
      expect(seen).toEqual(ids);
      expect((await admin.get('/tenants?limit=0')).status).toBe(422);
      expect((await admin.get('/tenants?limit=501')).status).toBe(422);
    });

    it('deletes a tenant: its keys stop working at once (401), a second delete is 404', async () => {
      const tenant = await gateway.createTenant({ firstPeriod: periodFrom(clock) });
      await gateway.client({ apiKey: tenant.key }).chat.completions.create(chat);
      const res = await admin.delete(`/tenants/${tenant.tenantId}`);
      expect(res).toMatchObject({ status: 200, body: { success: true, tenant_id: tenant.tenantId } });
      const calls = chatCalls(sim);
      await expect(gateway.client({ apiKey: tenant.key }).chat.completions.create(chat)).rejects.toMatchObject({ status: 401 });
      expect(chatCalls(sim)).toBe(calls);
      expect((await admin.delete(`/tenants/${tenant.tenantId}`)).status).toBe(404);
      expect((await admin.get(`/audit?tenant_id=${tenant.tenantId}&event=tenant_deleted`)).body.data).toHaveLength(1);
    });
  });

  function periodFrom(startMs: number) {
    return { startedAt: new Date(startMs), resetAt: new Date(startMs + 30 * 24 * HOUR) };
  }
});
