import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { adminApi, type AdminApi } from '../support/admin.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { waitForLedgerRows } from '../support/ledger.js';
import { forEachStore } from '../support/stores.js';
import { tenantId as newTenantId } from '../support/tenants.js';

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };

forEachStore('admin API: usage and audit', (store) => {
  let sim: SimLiteLLM;
  let gateway: TestGateway;
  let admin: AdminApi;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    // A clock that moves a millisecond per reading, so consecutive requests never share a timestamp.
    let ticks = 0;
    const now = () => Date.now() + ticks++;
    gateway = await startTestGateway({ LITELLM_BASE_URL: sim.url, ...store.env() }, { now });
    admin = adminApi(gateway.url);
  });
  afterAll(async () => {
    await gateway.shutdown();
    await sim.close();
  });

  it('lists a tenant’s ledger rows newest first, in the contract shape, with limit and a time range', async () => {
    const id = newTenantId();
    await admin.put(`/tenants/${id}`, { max_budget: 100 });
    const { body: key } = await admin.post(`/tenants/${id}/keys`);
    const client = gateway.client({ apiKey: key.key });
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      const clientRequestId = `client-${randomUUID()}`;
      sent.push(clientRequestId);
      await client.chat.completions.create(chat, { headers: { 'x-request-id': clientRequestId } });
    }
    await waitForLedgerRows(gateway.db, id, 3);

    const { status, body } = await admin.get(`/tenants/${id}/usage`);
    expect(status).toBe(200);
    expect(body.data.map((row: { client_request_id: string }) => row.client_request_id)).toEqual([...sent].reverse());
    expect(body.data[0]).toEqual({
      request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      client_request_id: sent[2],
      tenant_id: id,
      key_id: key.key_id,
      model: 'gpt-4o-mini',
      endpoint: '/v1/chat/completions',
      status: 200,
      prompt_tokens: expect.any(Number),
      completion_tokens: expect.any(Number),
      cost: expect.any(Number),
      cost_source: 'response_header',
      period_started_at: expect.any(String),
      created_at: expect.any(String),
    });
    expect(body.data[0].cost).toBeGreaterThan(0);

    expect((await admin.get(`/tenants/${id}/usage?limit=2`)).body.data).toHaveLength(2);
    const newest = body.data[0].created_at;
    expect((await admin.get(`/tenants/${id}/usage?from=${encodeURIComponent(newest)}`)).body.data).toHaveLength(1);
    expect((await admin.get(`/tenants/${id}/usage?to=${encodeURIComponent(newest)}`)).body.data).toHaveLength(2);
    const bad = await admin.get(`/tenants/${id}/usage?from=yesterday&limit=x`);
    expect(bad.status).toBe(422);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['query.from', 'query.limit']);
  });

  it('shows the audit feed newest first, filtered by tenant and event', async () => {
    const id = newTenantId();
    await admin.put(`/tenants/${id}`, { max_budget: 1 });
    await admin.put(`/tenants/${id}`, { max_budget: 2 });
    await admin.post(`/tenants/${id}/keys`);

    const all = (await admin.get(`/audit?tenant_id=${id}`)).body.data;
    expect(all.map((e: { event: string }) => e.event)).toEqual(['key_created', 'tenant_updated', 'tenant_created']);
    expect(all[0]).toEqual({
      id: expect.any(Number),
      at: expect.any(String),
      tenant_id: id,
      event: 'key_created',
      actor: expect.stringMatching(/^admin:[0-9a-f]{8}$/),
      details: expect.objectContaining({ key_id: expect.any(String), origin: 'minted' }),
    });
    expect((await admin.get(`/audit?tenant_id=${id}&event=tenant_updated`)).body.data).toEqual([all[1]]);
    expect((await admin.get(`/audit?tenant_id=${id}&limit=1`)).body.data).toEqual([all[0]]);
    expect(all[1].details).toMatchObject({ max_budget: 2 });
  });
});
