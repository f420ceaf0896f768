import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { adminApi, contractError, type AdminApi } from '../support/admin.js';
import { startTestGateway, testDatabase, type TestGateway } from '../support/gateway.js';
import { forEachStore } from '../support/stores.js';
import { tenantId as newTenantId } from '../support/tenants.js';

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };

forEachStore('admin API: keys', (store) => {
  let sim: SimLiteLLM;
  let replicas: TestGateway[];
  let admin: AdminApi;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    const env = { LITELLM_BASE_URL: sim.url, LITELLM_API_KEY: 'sk-gateway-upstream', ...store.env() };
    const first = await startTestGateway(env);
    replicas = store.kind === 'redis' ? [first, await startTestGateway(env, { database: await testDatabase() })] : [first];
    admin = adminApi(first.url);
  });
  afterAll(async () => {
    for (const replica of replicas) await replica.shutdown();
    await sim.close();
  });

  async function newTenant(): Promise<string> {
    const id = newTenantId();
    expect((await admin.put(`/tenants/${id}`, { max_budget: 100 })).status).toBe(201);
    return id;
  }

  const ask = (replica: TestGateway, key: string) => replica.client({ apiKey: key }).chat.completions.create(chat);

  it('mints a key shown once, which works at once on every replica; revoking it stops it everywhere', async () => {
    const id = await newTenant();
    // Asked before it exists: every replica now remembers the key as unknown.
    const key = `sk-litellm-${randomUUID()}`;
    for (const replica of replicas) await expect(ask(replica, key)).rejects.toMatchObject({ status: 401 });

    const minted = await admin.post(`/tenants/${id}/keys`);
    expect(minted.status).toBe(201);
    expect(minted.body).toEqual({ key_id: expect.stringMatching(/^key_/), key: expect.stringMatching(/^sk-bg-/), prefix: minted.body.key.slice(0, 10) });
    for (const replica of replicas) expect((await ask(replica, minted.body.key)).choices).toHaveLength(1);
    // A minted key is replaced upstream by the gateway's credential.
    expect(sim.requests.at(-1)!.headers.authorization).toBe('Bearer sk-gateway-upstream');

    const registered = await admin.post(`/tenants/${id}/keys`, { key });
    expect(registered.status).toBe(201);
    for (const replica of replicas) expect((await ask(replica, key)).choices).toHaveLength(1);
    // A registered LiteLLM key is forwarded unchanged.
    expect(sim.requests.at(-1)!.headers.authorization).toBe(`Bearer ${key}`);

    const revoked = await admin.delete(`/tenants/${id}/keys/${registered.body.key_id}`);
    expect(revoked).toMatchObject({ status: 200, body: { success: true } });
    for (const replica of replicas) await expect(ask(replica, key)).rejects.toMatchObject({ status: 401 });
    expect((await admin.delete(`/tenants/${id}/keys/${registered.body.key_id}`)).status).toBe(404);

    const audit = JSON.stringify((await admin.get(`/audit?tenant_id=${id}`)).body);
    expect(audit).toContain('key_created');
    expect(audit).toContain('key_revoked');
    expect(audit).not.toContain(key);
    expect(audit).not.toContain(minted.body.key);
  });

  it('refuses a key registered already (409) and a too-short one (422)', async () => {
    const id = await newTenant();
    const key = `sk-litellm-${randomUUID()}`;
    expect((await admin.post(`/tenants/${id}/keys`, { key })).status).toBe(201);
    const again = await admin.post(`/tenants/${await newTenant()}/keys`, { key });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject(contractError('key_already_registered', 'invalid_request_error'));
    expect(again.body.error.message).not.toContain(key);
    const short = await admin.post(`/tenants/${id}/keys`, { key: 'sk-1' });
    expect(short.status).toBe(422);
    expect(short.body.error.details).toEqual([expect.objectContaining({ path: 'key' })]);
  });

  it("will not revoke another tenant's key", async () => {
    const owner = await newTenant();
    const other = await newTenant();
    const minted = await admin.post(`/tenants/${owner}/keys`);
    expect((await admin.delete(`/tenants/${other}/keys/${minted.body.key_id}`)).status).toBe(404);
    expect((await ask(replicas[0]!, minted.body.key)).choices).toHaveLength(1);
  });
});
