import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { ledgerRows, recordSpend, waitForLedgerRows } from '../support/ledger.js';
import { forEachStore } from '../support/stores.js';

const HOUR = 3_600_000;
// Years ahead of the wall clock: Redis expires a bucket by real time, a day after its period
// ends, so a period already past would be gone as soon as it was written (from 2026-11-23 on).
const T0 = Date.UTC(2036, 10, 22, 10, 0, 0);
const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5 });

forEachStore('budget periods on the hot path (a controllable clock, no job running)', (store) => {
  let sim: SimLiteLLM;
  let gateway: TestGateway;
  let clock = T0;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    gateway = await startTestGateway({ LITELLM_BASE_URL: sim.url, ...store.env() }, { now: () => clock });
  });
  afterAll(async () => {
    await gateway.shutdown();
    await sim.close();
  });

  const send = async (key: string) => {
    const res = await request(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: chat,
    });
    await res.body.dump();
    return res;
  };

  it('starts a new period exactly at budget_reset_at: blocked one millisecond before, admitted at the boundary', async () => {
    const tenant = await gateway.createTenant({
      maxBudgetMicros: 100,
      budgetDuration: '1h',
      firstPeriod: { startedAt: new Date(T0), resetAt: new Date(T0 + HOUR) },
    });
    clock = T0 + 10 * 60_000;
    await recordSpend(gateway.db, tenant.tenantId, 110);
    expect((await send(tenant.key)).statusCode).toBe(402);

    clock = T0 + HOUR - 1;
    expect((await send(tenant.key)).statusCode).toBe(402);

    clock = T0 + HOUR;
    const fresh = await send(tenant.key);
    expect(fresh.statusCode).toBe(200);
    expect(fresh.headers).toMatchObject({
      'x-budget-spend': '0',
      'x-budget-status': 'ok',
      'x-budget-reset-at': new Date(T0 + 2 * HOUR).toISOString(),
    });
    const rows = await waitForLedgerRows(gateway.db, tenant.tenantId, 2);
    const served = rows.find((r) => r.requestId === fresh.headers['x-request-id']);
    expect(served!.periodStartedAt.getTime()).toBe(T0 + HOUR);
  });

  it('skips missed periods rather than replaying them', async () => {
    const tenant = await gateway.createTenant({
      maxBudgetMicros: 1_000,
      budgetDuration: '1h',
      firstPeriod: { startedAt: new Date(T0), resetAt: new Date(T0 + HOUR) },
    });
    clock = T0 + 5 * HOUR + 30 * 60_000;
    const res = await send(tenant.key);
    expect(res.headers['x-budget-reset-at']).toBe(new Date(T0 + 6 * HOUR).toISOString());
    const [row] = await waitForLedgerRows(gateway.db, tenant.tenantId, 1);
    expect(row!.periodStartedAt.getTime()).toBe(T0 + 5 * HOUR);
    expect(await ledgerRows(gateway.db, tenant.tenantId)).toHaveLength(1);
  });
});
