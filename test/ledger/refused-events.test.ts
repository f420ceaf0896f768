import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { sample, startTestGateway, type TestGateway } from '../support/gateway.js';
import { waitForLedgerRows } from '../support/ledger.js';
import { forEachStore } from '../support/stores.js';

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };

forEachStore('a usage event the ledger table refuses, among real requests', (store) => {
  let sim: SimLiteLLM;
  let gateway: TestGateway;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    gateway = await startTestGateway({ LITELLM_BASE_URL: sim.url, LITELLM_API_KEY: 'sk-gateway-upstream', ...store.env() });
  });
  afterAll(async () => {
    await gateway.shutdown();
    await sim.close();
  });

  it('is set aside and counted in /metrics, and stalls none of the usage behind it', async () => {
    const tenant = await gateway.createTenant();
    const client = gateway.client({ apiKey: tenant.key });
    const setAside = async () => sample(await gateway.metrics(), 'budget_gateway_ledger_set_aside');
    const before = await setAside();

    await client.chat.completions.create(chat);
    // What a gateway of another version might have left in the Redis stream: not JSON to this one.
    // Settled through the store, as a request's usage is, so it joins the same ledger batches.
    await gateway.services.store.settle(randomUUID(), [], `{"request_id":"${randomUUID()}"`);
    const answers = await Promise.all(Array.from({ length: 5 }, () => client.chat.completions.create(chat).withResponse()));

    const rows = await waitForLedgerRows(gateway.db, tenant.tenantId, 6);
    expect(rows.map((r) => r.requestId)).toEqual(expect.arrayContaining(answers.map((a) => a.response.headers.get('x-request-id'))));
    await vi.waitFor(async () => expect(await setAside()).toBe(before + 1), { timeout: 10_000, interval: 50 });
    await vi.waitFor(async () => expect(sample(await gateway.metrics(), 'budget_gateway_ledger_pending')).toBe(0), { timeout: 10_000, interval: 50 });
  });
});
