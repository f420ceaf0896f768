import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { chatCalls, closedPort, sample, startTestGateway, type TestGateway, type TestTenant } from '../support/gateway.js';
import { recordSpend, waitForLedgerRows } from '../support/ledger.js';

const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5 });

/** A gateway whose Redis cannot be reached: nothing listens on its port. */
describe.each(['open', 'closed'] as const)('BUDGET_FAIL_MODE=%s with the store unreachable', (mode) => {
  let sim: SimLiteLLM;
  let gateway: TestGateway;
  let tenant: TestTenant;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    gateway = await startTestGateway({
      LITELLM_BASE_URL: sim.url,
      REDIS_URL: `redis://127.0.0.1:${await closedPort()}`,
      BUDGET_FAIL_MODE: mode,
    });
    tenant = await gateway.createTenant();
  });
  afterAll(async () => {
    await gateway.shutdown();
    await sim.close();
  });

  const send = () =>
    request(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/json' },
      body: chat,
    });

  if (mode === 'open') {
    it('admits, counts the decision, and still records the usage in the ledger', async () => {
      const res = await send();
      expect(res.statusCode).toBe(200);
      await res.body.dump();
      const [row] = await waitForLedgerRows(gateway.db, tenant.tenantId, 1);
      expect(row).toMatchObject({ requestId: res.headers['x-request-id'], costMicros: 11, costSource: 'response_header' });
      expect(sample(await gateway.metrics(), 'budget_gateway_budget_decisions_total{decision="ok"}')).toBe(1);
    });
  } else {
    it('answers 503 budget_store_unavailable with retry-after, and sends nothing upstream', async () => {
      const before = chatCalls(sim);
      const res = await send();
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(await res.body.json()).toEqual({
        error: { message: expect.any(String), type: 'budget_unavailable', param: null, code: 'budget_store_unavailable' },
      });
      expect(chatCalls(sim)).toBe(before);
    });
  }

  it("tells a free answer (listing models) the tenant's spend from the ledger, not a false zero", async () => {
    const spent = await gateway.createTenant({ maxBudgetMicros: 100 });
    await recordSpend(gateway.db, spent.tenantId, 120);
    const { response } = await gateway.client({ apiKey: spent.key }).models.list().withResponse();
    expect(response.headers.get('x-budget-spend')).toBe('0.00012');
    expect(response.headers.get('x-budget-status')).toBe('blocked');
  });

  it('reports the store as not ready', async () => {
    const res = await request(`${gateway.url}/readyz`);
    expect(res.statusCode).toBe(503);
    expect(await res.body.json()).toMatchObject({ status: 'not_ready', not_ready: [{ name: 'store' }] });
  });
});
