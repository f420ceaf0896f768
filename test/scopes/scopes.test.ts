import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { adminApi, type AdminApi } from '../support/admin.js';
import { sample, startTestGateway, type TestGateway } from '../support/gateway.js';
import { auditEvents, ledgerRows, waitForLedgerRows } from '../support/ledger.js';
import { forEachStore } from '../support/stores.js';
import { tenantId as newTenantId } from '../support/tenants.js';

const chat = (model = 'gpt-4o-mini') => ({ model, messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 });
const REQUEST_MICROS = 11; // what one answer of the simulator costs for chat('gpt-4o-mini')

// The global cap applies to every tenant of the database: this file has a database of its own.
forEachStore('budget scopes through the OpenAI SDK', (store) => {
  let sim: SimLiteLLM;
  let gateway: TestGateway;
  let admin: AdminApi;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    gateway = await startTestGateway({ LITELLM_BASE_URL: sim.url, ...store.env() });
    admin = adminApi(gateway.url);
  });
  afterEach(async () => {
    await admin.delete('/budgets/global');
  });
  afterAll(async () => {
    await gateway.shutdown();
    await sim.close();
  });

  async function tenant(body: Record<string, unknown> = { max_budget: 100 }, keyBody: Record<string, unknown> = {}) {
    const id = newTenantId();
    expect((await admin.put(`/tenants/${id}`, body)).status).toBe(201);
    const { body: key } = await admin.post(`/tenants/${id}/keys`, keyBody);
    return { id, key: key.key as string, keyId: key.key_id as string, client: gateway.client({ apiKey: key.key }) };
  }

  /** Sends one request at a time until one is refused; returns how many were admitted and the refusal. */
  async function untilRefused(send: () => Promise<unknown>, max = 40) {
    for (let admitted = 0; admitted < max; admitted++) {
      try {
        await send();
      } catch (err) {
        return { admitted, refusal: err as { status: number; code: string; message: string; headers: Headers } };
      }
    }
    throw new Error(`never refused in ${max} requests`);
  }

  it('a global cap blocks two tenants together, and lets them in again once removed', async () => {
    // Block line 55 µ$: room for 5 answers of 11 µ$, shared by both tenants.
    const cap = await admin.put('/budgets/global', { max_budget: 0.00005, budget_duration: '1d' });
    expect(cap).toMatchObject({ status: 201, body: { scope: 'global', max_budget: 0.00005, limit: 0.00005, spend: 0, status: 'ok' } });
    const a = await tenant();
    const b = await tenant();
    let turn = 0;
    const { admitted, refusal } = await untilRefused(() => [a, b][turn++ % 2]!.client.chat.completions.create(chat()));
    expect(refusal).toMatchObject({ status: 402, code: 'budget_exceeded' });
    expect(refusal.headers.get('x-budget-scope')).toBe('global');
    expect(refusal.message).toContain('global');
    await expect(a.client.chat.completions.create(chat())).rejects.toMatchObject({ status: 402 });
    await expect(b.client.chat.completions.create(chat())).rejects.toMatchObject({ status: 402 });

    await waitForLedgerRows(gateway.db, a.id, Math.ceil(admitted / 2));
    await waitForLedgerRows(gateway.db, b.id, Math.floor(admitted / 2));
    const spent = [...(await ledgerRows(gateway.db, a.id)), ...(await ledgerRows(gateway.db, b.id))].reduce((s, r) => s + r.costMicros, 0);
    expect(spent).toBeLessThanOrEqual(55 + REQUEST_MICROS);
    expect(admitted).toBeGreaterThanOrEqual(4);
    await vi.waitFor(async () => expect((await admin.get('/budgets/global')).body).toMatchObject({ status: 'blocked' }));
    expect((await admin.get(`/tenants/${a.id}`)).body.budgets[0]).toMatchObject({ scope: 'global', status: 'blocked' });

    expect((await admin.delete('/budgets/global')).status).toBe(200);
    expect((await a.client.chat.completions.create(chat())).choices).toHaveLength(1);
    expect((await admin.get('/budgets/global')).status).toBe(404);
    const audit = (await admin.get('/audit?event=global_budget_set')).body.data;
    expect(audit[0]).toMatchObject({ tenant_id: null, actor: expect.stringMatching(/^admin:/) });
  });

  it('a model budget blocks one model while another still works', async () => {
    const t = await tenant({ max_budget: 100, model_budgets: { 'gpt-4o-mini': { max_budget: 0.00002 } } });
    // From the first answer on, the headers describe the model's budget: it refuses long before the tenant's.
    const { response } = await t.client.chat.completions.create(chat('gpt-4o-mini')).withResponse();
    expect([response.headers.get('x-budget-limit'), response.headers.get('x-budget-spend')]).toEqual(['0.00002', '0']);
    const { refusal } = await untilRefused(() => t.client.chat.completions.create(chat('gpt-4o-mini')));
    expect(refusal).toMatchObject({ status: 402, code: 'budget_exceeded' });
    expect(refusal.headers.get('x-budget-scope')).toBe('model:gpt-4o-mini');
    expect((await t.client.chat.completions.create(chat('gpt-4o'))).choices).toHaveLength(1);
    const view = (await admin.get(`/tenants/${t.id}`)).body;
    expect(view.model_budgets).toEqual({ 'gpt-4o-mini': { max_budget: 0.00002 } });
    expect(view.budgets.map((v: { scope: string }) => v.scope)).toEqual(['tenant', 'model:gpt-4o-mini']);
    const [created] = (await admin.get(`/audit?tenant_id=${t.id}&event=tenant_created`)).body.data;
    expect(created.details.model_budgets).toEqual({ 'gpt-4o-mini': { max_budget: 0.00002 } });
  });

  it("a key budget limits one key while the tenant's other key still works", async () => {
    const t = await tenant({ max_budget: 100 }, { max_budget: 0.00002 });
    const { refusal } = await untilRefused(() => t.client.chat.completions.create(chat()));
    expect(refusal.headers.get('x-budget-scope')).toBe(`key:${t.keyId}`);
    // The tightest budget (the key's) is what the headers describe.
    expect(refusal.headers.get('x-budget-limit')).toBe('0.00002');
    const { body: other } = await admin.post(`/tenants/${t.id}/keys`);
    expect((await gateway.client({ apiKey: other.key }).chat.completions.create(chat())).choices).toHaveLength(1);
    const keys = (await admin.get(`/tenants/${t.id}/keys`)).body.data;
    expect(keys).toEqual([
      expect.objectContaining({ key_id: t.keyId, budget: expect.objectContaining({ scope: `key:${t.keyId}`, limit: 0.00002, status: 'blocked' }) }),
      expect.objectContaining({ key_id: other.key_id, budget: null }),
    ]);
  });

  it('a token limit refuses with token_budget_exceeded', async () => {
    const t = await tenant({ max_budget: 100, max_tokens: 30, grace_threshold: 100 });
    const { admitted, refusal } = await untilRefused(() => t.client.chat.completions.create(chat()));
    expect(refusal).toMatchObject({ status: 402, code: 'token_budget_exceeded', type: 'budget_exceeded' });
    expect(refusal.headers.get('x-budget-scope')).toBe('tenant');
    const rows = await waitForLedgerRows(gateway.db, t.id, admitted);
    const tokens = rows.reduce((s, r) => s + r.promptTokens + r.completionTokens, 0);
    const perRequest = rows[0]!.promptTokens + rows[0]!.completionTokens;
    expect(tokens).toBeGreaterThanOrEqual(30);
    expect(tokens).toBeLessThan(30 + perRequest + 1);
    expect((await admin.get(`/tenants/${t.id}`)).body.budgets).toContainEqual(expect.objectContaining({ unit: 'tokens', limit: 30, spend: tokens, status: 'blocked' }));
  });

  it('a request limit refuses with request_budget_exceeded after exactly max_requests', async () => {
    const t = await tenant({ max_budget: 100, max_requests: 3, grace_threshold: 100 });
    const { admitted, refusal } = await untilRefused(() => t.client.chat.completions.create(chat()));
    expect(admitted).toBe(3);
    expect(refusal).toMatchObject({ status: 402, code: 'request_budget_exceeded' });
    // The budget is not spent in dollars: the USD headers still describe the tenant's budget.
    expect(refusal.headers.get('x-budget-limit')).toBe('100');
  });

  it('fires three alert thresholds once each, and shows them in the metrics by scope', async () => {
    // 110 µ$ budget: lines at 55, 82.5 and 99 µ$ are reached by the 5th, 8th and 9th answer of 11 µ$.
    const t = await tenant({ max_budget: 0.00011, alert_thresholds: [90, 50, 75] });
    for (let i = 0; i < 10; i++) await t.client.chat.completions.create(chat());
    await vi.waitFor(async () => expect(await auditEvents(gateway.db, t.id, 'budget_alert')).toHaveLength(3), { timeout: 10_000 });
    const alerts = await auditEvents(gateway.db, t.id, 'budget_alert');
    expect(alerts.map((a) => a.details.threshold).sort()).toEqual([50, 75, 90]);
    const view = (await admin.get(`/tenants/${t.id}`)).body;
    expect(view).toMatchObject({ alert_thresholds: [50, 75, 90], status: 'grace' });
    const metrics = await gateway.metrics();
    expect(sample(metrics, `budget_gateway_tenant_budget_usd{tenant="${t.id}",scope="tenant"}`)).toBeCloseTo(0.00011, 9);
  });

  it('refuses bad scope fields with 422', async () => {
    const res = await admin.put(`/tenants/${newTenantId()}`, {
      max_budget: 1,
      model_budgets: { 'gpt-4o': { max_budget: -1 } },
      max_tokens: 1.5,
      max_requests: -2,
      alert_thresholds: [80, 80],
    });
    expect(res.status).toBe(422);
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      'alert_thresholds',
      'max_requests',
      'max_tokens',
      'model_budgets.gpt-4o.max_budget',
    ]);
    const global = await admin.put('/budgets/global', { max_budget: 1, budget_duration: 'monthly' });
    expect(global.status).toBe(422);
  });
});

describe('the global cap across the reset job', () => {
  let gateway: TestGateway;
  let admin: AdminApi;
  // Years away from the wall clock: the usage the suites above recorded at real time must not
  // fall in this cap's period (on the day this date named, it did, and old_spend was theirs).
  let clock = Date.UTC(2036, 10, 23, 10);

  beforeAll(async () => {
    gateway = await startTestGateway({ RESET_CRON: '0 0 1 1 *' }, { now: () => clock });
    admin = adminApi(gateway.url);
  });
  afterAll(() => gateway.shutdown());

  it('rolls its own period, audits and notifies the reset once', async () => {
    await admin.put('/budgets/global', { max_budget: 1000, budget_duration: '1d' });
    clock += 25 * 3_600_000;
    expect((await admin.get('/budgets/global')).body.period_started_at).toBe(new Date(Date.UTC(2036, 10, 24, 10)).toISOString());
    await gateway.services.scheduler.runNow('budget_reset');
    await gateway.services.scheduler.runNow('budget_reset');
    const resets = (await admin.get('/audit?event=budget_reset')).body.data.filter((e: { tenant_id: string | null }) => e.tenant_id === null);
    expect(resets).toEqual([
      expect.objectContaining({ details: { scope: 'global', old_spend: 0, new_budget: 1000, reset_date: new Date(Date.UTC(2036, 10, 24, 10)).toISOString() } }),
    ]);
    await admin.delete('/budgets/global');
  });
});
