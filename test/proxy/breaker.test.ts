import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { chatCalls, closedPort, sample, startTestGateway, type TestGateway } from '../support/gateway.js';

const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

describe('the circuit breaker', () => {
  let sim: SimLiteLLM;
  let gateway: TestGateway;
  let key: string;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
  });
  afterAll(() => sim.close());

  // A fresh gateway per test: the breaker's rolling window must not carry one test's outcomes
  // into the next.
  beforeEach(async () => {
    sim.options.errorRate = 0;
    sim.options.disconnectRate = 0;
    gateway = await startTestGateway({
      LITELLM_BASE_URL: sim.url,
      BREAKER_VOLUME_THRESHOLD: '5',
      BREAKER_ERROR_THRESHOLD_PERCENT: '50',
      BREAKER_RESET_TIMEOUT_MS: '400',
    });
    ({ key } = await gateway.createTenant());
  });
  afterEach(() => gateway.shutdown());

  const send = async (headers: Record<string, string> = {}) => {
    const res = await request(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body: chat,
    });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };
  const circuitState = async () => sample(await gateway.metrics(), 'budget_gateway_circuit_state');

  it('does not count 4xx answers against the upstream', async () => {
    for (let i = 0; i < 8; i++) expect((await send({ 'x-sim-status': '400' })).status).toBe(400);
    expect(await circuitState()).toBe(0);
    expect((await send()).status).toBe(200);
  });

  it('opens on a 5xx storm, fails fast with 503 circuit_open, and recovers through a half-open probe', async () => {
    sim.options.errorRate = 1;
    // The upstream's own 5xx answers still reach the client unchanged while they are counted.
    const upstreamCalls = chatCalls(sim);
    for (let i = 0; i < 5; i++) {
      const res = await send();
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body)).toMatchObject({ error: { type: expect.any(String) } });
    }
    expect(await circuitState()).toBe(2);

    const refused = await send();
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body)).toEqual({
      error: { message: expect.any(String), type: 'upstream_unavailable', param: null, code: 'circuit_open' },
    });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.headers['x-budget-status']).toBe('ok');
    expect(chatCalls(sim) - upstreamCalls).toBe(5); // the refused request never left the gateway

    sim.options.errorRate = 0;
    // The breaker moves to half-open on its own timer; wait for that state, not for a fixed time.
    await vi.waitFor(async () => expect(await circuitState()).toBe(1), { timeout: 5_000, interval: 50 });
    expect((await send()).status).toBe(200);
    expect(await circuitState()).toBe(0);
    expect((await send()).status).toBe(200);
  });

  it('counts refused connections too', async () => {
    const unreachable = await startTestGateway({
      LITELLM_BASE_URL: `http://127.0.0.1:${await closedPort()}`,
      BREAKER_VOLUME_THRESHOLD: '5',
      BREAKER_RESET_TIMEOUT_MS: '60000',
    });
    const tenant = await unreachable.createTenant();
    try {
      const statuses = [];
      for (let i = 0; i < 6; i++) {
        const res = await request(`${unreachable.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tenant.key}` },
          body: chat,
        });
        statuses.push(res.statusCode);
        await res.body.dump();
      }
      expect(statuses).toEqual([502, 502, 502, 502, 502, 503]);
    } finally {
      await unreachable.shutdown();
    }
  });
});

