import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey, revokeKey } from '../../src/db/keys.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { sample, startTestGateway, type TestGateway } from '../support/gateway.js';
import { auditEvents, outboxEvents, recordSpend, waitForLedgerRows } from '../support/ledger.js';
import { forEachStore } from '../support/stores.js';

const USD = 1_000_000;
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };

forEachStore('budget admission through the OpenAI SDK', (store) => {
  let sim: SimLiteLLM;
  let gateway: TestGateway;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    gateway = await startTestGateway({ LITELLM_BASE_URL: sim.url, ...store.env() });
  });
  afterAll(async () => {
    await gateway.shutdown();
    await sim.close();
  });

  const client = (apiKey: string) => gateway.client({ apiKey });

  describe('who is calling', () => {
    it('refuses a missing, unknown or revoked key with 401 invalid_api_key', async () => {
      const missing = await request(`${gateway.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat) });
      expect(missing.statusCode).toBe(401);
      expect(await missing.body.json()).toEqual({
        error: { message: expect.stringContaining('Missing API key'), type: 'authentication_error', param: null, code: 'invalid_api_key' },
      });
      // The second time, the unknown key is answered from the directory's cache.
      for (let i = 0; i < 2; i++) {
        await expect(client('sk-nobody').chat.completions.create(chat)).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
      }

      // Served from the cache from the second request on; revoked, refused at once, and again from the cache.
      const tenant = await gateway.createTenant();
      for (let i = 0; i < 2; i++) expect((await client(tenant.key).chat.completions.create(chat)).choices).toHaveLength(1);
      await revokeKey(gateway.db, tenant.tenantId, tenant.keyId);
      await gateway.services.invalidation.publish({ keyHash: hashKey(tenant.key) });
      for (let i = 0; i < 2; i++) {
        await expect(client(tenant.key).chat.completions.create(chat)).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
      }
    });

    it('takes the key from the api-key header too (Azure-style clients)', async () => {
      const tenant = await gateway.createTenant();
      const res = await request(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'api-key': tenant.key, 'content-type': 'application/json' },
        body: JSON.stringify(chat),
      });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    });
  });

  describe('the x-budget-* headers', () => {
    it('describe the budget as of admission on every proxied answer, free ones included', async () => {
      const tenant = await gateway.createTenant({ maxBudgetMicros: 10 * USD });
      await recordSpend(gateway.db, tenant.tenantId, 2.5 * USD);
      const { response } = await client(tenant.key).chat.completions.create(chat).withResponse();
      expect(response.headers.get('x-budget-limit')).toBe('10');
      expect(response.headers.get('x-budget-spend')).toBe('2.5');
      expect(response.headers.get('x-budget-remaining')).toBe('7.5');
      expect(response.headers.get('x-budget-status')).toBe('ok');
      expect(new Date(response.headers.get('x-budget-reset-at')!).getTime()).toBeGreaterThan(Date.now());

      const models = await client(tenant.key).models.list().withResponse();
      expect(models.response.headers.get('x-budget-limit')).toBe('10');
      expect(models.response.headers.get('x-budget-status')).toBe('ok');
    });
  });

  describe('CONTRACT section 3 boundaries: budget $100, alert 80, grace 110', () => {
    it.each([
      [79.99, 'ok'],
      [80, 'alert'],
      [99.99, 'alert'],
      [100, 'grace'],
      [109.99, 'grace'],
    ])('spend $%d is %s and admitted', async (spend, status) => {
      const tenant = await gateway.createTenant({ maxBudgetMicros: 100 * USD });
      await recordSpend(gateway.db, tenant.tenantId, Math.round(spend * USD));
      const { response } = await client(tenant.key).chat.completions.create(chat).withResponse();
      expect(response.status).toBe(200);
      expect(response.headers.get('x-budget-status')).toBe(status);
    });

    it('spend $110.00 is blocked: 402 budget_exceeded, x-should-retry false, never sent upstream', async () => {
      const tenant = await gateway.createTenant({ maxBudgetMicros: 100 * USD });
      await recordSpend(gateway.db, tenant.tenantId, 110 * USD);
      const upstreamBefore = sim.requests.filter((r) => r.headers.authorization?.includes(tenant.key)).length;
      const res = await request(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/json', 'x-request-id': 'over-1' },
        body: JSON.stringify(chat),
      });
      expect(res.statusCode).toBe(402);
      expect(await res.body.json()).toEqual({
        error: { message: expect.stringContaining('scope: tenant'), type: 'budget_exceeded', param: null, code: 'budget_exceeded' },
      });
      expect(res.headers).toMatchObject({
        'x-should-retry': 'false',
        'x-budget-scope': 'tenant',
        'x-budget-status': 'blocked',
        'x-budget-limit': '100',
        'x-budget-spend': '110',
        'x-budget-remaining': '0',
        'x-request-id': 'over-1',
      });
      expect(sim.requests.filter((r) => r.headers.authorization?.includes(tenant.key)).length).toBe(upstreamBefore);
      // The SDK raises its usual error type and does not retry a 402.
      await expect(client(tenant.key).chat.completions.create(chat)).rejects.toBeInstanceOf(OpenAI.APIError);
    });

    it('a zero budget blocks everything', async () => {
      const tenant = await gateway.createTenant({ maxBudgetMicros: 0 });
      await expect(client(tenant.key).chat.completions.create(chat)).rejects.toMatchObject({ status: 402, code: 'budget_exceeded' });
    });
  });

  describe('metrics', () => {
    it('count decisions and spend, and show budget and utilization per tenant', async () => {
      const tenant = await gateway.createTenant({ maxBudgetMicros: 110 });
      const before = await gateway.metrics();
      for (let i = 0; i < 3; i++) {
        await client(tenant.key).chat.completions.create(chat);
        await waitForLedgerRows(gateway.db, tenant.tenantId, i + 1);
      }
      const after = await gateway.metrics();
      const delta = (series: string) => sample(after, series) - sample(before, series);
      expect(delta('budget_gateway_budget_decisions_total{decision="ok"}')).toBe(3);
      expect(sample(after, `budget_gateway_tenant_spend_usd_total{tenant="${tenant.tenantId}"}`)).toBeCloseTo(0.000033, 9);
      expect(sample(after, `budget_gateway_tenant_budget_usd{tenant="${tenant.tenantId}",scope="tenant"}`)).toBeCloseTo(0.00011, 9);
      await expect
        .poll(async () => sample(await gateway.metrics(), `budget_gateway_tenant_utilization_ratio{tenant="${tenant.tenantId}",scope="tenant"}`))
        .toBeCloseTo(0.3, 9);
      expect(after).toMatch(/^budget_gateway_ledger_pending \d+$/m);
    });
  });

  describe('crossings', () => {
    it('writes one budget_alert and one budget_blocked audit entry and notification per period', async () => {
      // Each simulated answer costs 11 micro-dollars: alert from 80, blocked from 110.
      const tenant = await gateway.createTenant({ maxBudgetMicros: 100 });
      let served = 0;
      for (let i = 0; i < 14; i++) {
        const ok = await client(tenant.key)
          .chat.completions.create(chat)
          .then(() => true)
          .catch(() => false);
        if (ok) served++;
        // Settles are not awaited by the client; let each one land before the next admission.
        await waitForLedgerRows(gateway.db, tenant.tenantId, served);
      }
      expect(served).toBe(10);
      await expect.poll(async () => (await auditEvents(gateway.db, tenant.tenantId, 'budget_alert')).length).toBe(1);
      await expect.poll(async () => (await auditEvents(gateway.db, tenant.tenantId, 'budget_blocked')).length).toBe(1);
      expect(await outboxEvents(gateway.db, tenant.tenantId, 'budget_alert')).toHaveLength(1);
      expect(await outboxEvents(gateway.db, tenant.tenantId, 'budget_blocked')).toHaveLength(1);
    });
  });
});
