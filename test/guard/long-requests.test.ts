import { expect, it } from 'vitest';
import { chatCalls, withSimAndGateway } from '../support/gateway.js';
import { ledgerRows } from '../support/ledger.js';
import { forEachStore } from '../support/stores.js';

/**
 * RESERVATION_TTL_MS is how long a reservation outlives a replica that died holding it; a request
 * that is still running holds its own as long as it runs, however slow its stream. Here the TTL is
 * 1 s and 30 requests take 4 s each: new requests meanwhile get only the room they leave.
 */
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };
/** What one answer costs (the simulator's x-litellm-response-cost), about its estimate too. */
const REQUEST_MICROS = 11;
const LINE_MICROS = 600;
const SLOW = 30;
const FAST = 40;

forEachStore('requests that outlive RESERVATION_TTL_MS', (store) => {
  const suite = withSimAndGateway({ ...store.env(), RESERVATION_TTL_MS: '1000' });

  it('hold their reservation while they run, so new requests get only the room they leave', async () => {
    const { sim, gateway } = suite;
    // Block line 600 µ$ (grace 100 %): room for about 54 answers.
    const tenant = await gateway.createTenant({ maxBudgetMicros: LINE_MICROS, graceThreshold: 100 });
    const client = gateway.client({ apiKey: tenant.key, timeout: 30_000 });
    const calls = chatCalls(sim);
    const slow = Array.from({ length: SLOW }, () => client.chat.completions.create(chat, { headers: { 'x-sim-latency-ms': '4000' } }));
    await expect.poll(() => chatCalls(sim) - calls, { timeout: 10_000, interval: 50 }).toBe(SLOW);
    // Well past the TTL, while they still run.
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    const fast = await Promise.allSettled(Array.from({ length: FAST }, () => client.chat.completions.create(chat)));
    const refused = fast.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ status: 402 });
    await Promise.all(slow);

    const expected = SLOW + FAST - refused.length;
    await expect.poll(async () => (await ledgerRows(gateway.db, tenant.tenantId)).length, { timeout: 10_000, interval: 100 }).toBe(expected);
    const spend = (await ledgerRows(gateway.db, tenant.tenantId)).reduce((sum, row) => sum + row.costMicros, 0);
    expect(spend).toBeLessThanOrEqual(LINE_MICROS + REQUEST_MICROS);
  }, 60_000);
});
