import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM, type SimRequestInfo } from '../../src/sim/litellm.js';
import { tenantBucket } from '../../src/budget/scopes.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { ledgerRows, waitForLedgerRows } from '../support/ledger.js';
import { forEachStore } from '../support/stores.js';

/** Long enough to watch a lease while it lends, even on a busy machine (the gateway's own: 1 s). */
const LEASE_LIFETIME_MS = 3_000;
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };

forEachStore('what a request costs, and where it is recorded', (store) => {
  let sim: SimLiteLLM;
  let gateway: TestGateway;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    gateway = await startTestGateway(
      { LITELLM_BASE_URL: sim.url, LITELLM_API_KEY: 'sk-gateway-upstream', ...store.env() },
      { leaseLifetimeMs: LEASE_LIFETIME_MS },
    );
  });
  afterAll(async () => {
    await gateway.shutdown();
    await sim.close();
  });

  const spendOf = async (key: string) => {
    const { response } = await gateway.client({ apiKey: key }).models.list().withResponse();
    return response.headers.get('x-budget-spend');
  };
  /** What the gateway's own bucket holds for the tenant (reservations included). */
  const bucketOf = async (tenantId: string) => {
    const [row] = await ledgerRows(gateway.db, tenantId);
    const period = row?.periodStartedAt.getTime() ?? (await gateway.services.directory.tenant(tenantId))!.period.startMs;
    const [state] = await gateway.services.store.read([tenantBucket(tenantId, period, 'usd')]);
    return state;
  };

  it('charges a plain answer what LiteLLM says it cost (x-litellm-response-cost)', async () => {
    const tenant = await gateway.createTenant();
    const { response } = await gateway.client({ apiKey: tenant.key }).chat.completions.create(chat).withResponse();
    const [row] = await waitForLedgerRows(gateway.db, tenant.tenantId, 1);
    expect(row).toMatchObject({
      requestId: response.headers.get('x-request-id'),
      tenantId: tenant.tenantId,
      keyId: tenant.keyId,
      model: 'gpt-4o-mini',
      endpoint: '/v1/chat/completions',
      status: 200,
      promptTokens: 1,
      completionTokens: 5,
      costMicros: 11, // the simulator's header: 1 × $1/M + 5 × $2/M
      costSource: 'response_header',
    });
    expect(await spendOf(tenant.key)).toBe('0.000011');
  });

  it('makes a stream report its usage without showing the client a chunk it did not ask for, and prices it', async () => {
    const tenant = await gateway.createTenant();
    const stream = await gateway.client({ apiKey: tenant.key }).chat.completions.create({ ...chat, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.some((c) => c.usage)).toBe(false);
    expect(chunks.some((c) => c.choices.length === 0)).toBe(false);
    expect(sim.requests.at(-1)!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    const [row] = await waitForLedgerRows(gateway.db, tenant.tenantId, 1);
    // No cost header on streams: usage × LiteLLM's own prices (from its /model/info).
    expect(row).toMatchObject({ promptTokens: 1, completionTokens: 5, costMicros: 11, costSource: 'price_table' });
  });

  it('keeps the usage chunk for a client that asked for it, and takes LiteLLM stream cost first', async () => {
    const tenant = await gateway.createTenant();
    const stream = await gateway
      .client({ apiKey: tenant.key })
      .chat.completions.create({ ...chat, stream: true, stream_options: { include_usage: true } }, { headers: { 'x-sim-stream-cost': '1' } });
    const usages = [];
    for await (const chunk of stream) if (chunk.usage) usages.push(chunk.usage);
    expect(usages).toHaveLength(1);
    const [row] = await waitForLedgerRows(gateway.db, tenant.tenantId, 1);
    expect(row).toMatchObject({ costMicros: 11, costSource: 'stream_usage' });
  });

  it('records Responses API streams from response.completed', async () => {
    const tenant = await gateway.createTenant();
    const stream = await gateway.client({ apiKey: tenant.key }).responses.create({ model: 'gpt-4o-mini', input: 'Hi', stream: true });
    for await (const _event of stream);
    const [row] = await waitForLedgerRows(gateway.db, tenant.tenantId, 1);
    expect(row).toMatchObject({ endpoint: '/v1/responses', promptTokens: 1, completionTokens: 5, costSource: 'price_table' });
  });

  it('charges a stream cut mid-way its estimate, and releases what a failed request reserved', async () => {
    const tenant = await gateway.createTenant();
    const client = gateway.client({ apiKey: tenant.key });
    const cut = await client.chat.completions.create({ ...chat, stream: true }, { headers: { 'x-sim-disconnect-after-chunks': '2' } });
    await expect(
      (async () => {
        for await (const _chunk of cut);
      })(),
    ).rejects.toThrow();
    await expect(client.chat.completions.create(chat, { headers: { 'x-sim-status': '400' } })).rejects.toMatchObject({ status: 400 });
    await expect(client.chat.completions.create(chat, { headers: { 'x-sim-status': '500' } })).rejects.toMatchObject({ status: 500 });
    const [row] = await waitForLedgerRows(gateway.db, tenant.tenantId, 1);
    // Estimate: 1 prompt token × $1/M + max_tokens 5 × $2/M.
    expect(row).toMatchObject({ costMicros: 11, costSource: 'estimate' });
    // With a shared store, what the lease lent the others goes back when it retires.
    await expect.poll(() => bucketOf(tenant.tenantId), { timeout: LEASE_LIFETIME_MS + 5_000 }).toEqual({ spend: 11, reserved: 0 });
    expect(await ledgerRows(gateway.db, tenant.tenantId)).toHaveLength(1);
  });

  it('releases the reservation of a client that hangs up before the answer', async () => {
    const tenant = await gateway.createTenant();
    const controller = new AbortController();
    const arrived = once(sim.events, 'request');
    const aborted = once(sim.events, 'aborted');
    const call = gateway
      .client({ apiKey: tenant.key })
      .chat.completions.create(chat, { headers: { 'x-sim-hang': '1' }, signal: controller.signal })
      .catch(() => 'aborted');
    await arrived;
    // Its estimate is held, alone: a key's first request takes no lease, even from a shared store.
    expect((await bucketOf(tenant.tenantId))?.reserved).toBe(11);
    controller.abort();
    expect(await call).toBe('aborted');
    await aborted;
    await expect.poll(() => bucketOf(tenant.tenantId), { timeout: LEASE_LIFETIME_MS + 5_000 }).toEqual({ spend: 0, reserved: 0 });
  });

  if (store.kind === 'redis') {
    it('admits the next requests against a headroom lease, and gives back what they did not use', async () => {
      const tenant = await gateway.createTenant();
      const client = gateway.client({ apiKey: tenant.key });
      for (let i = 0; i < 5; i++) await client.chat.completions.create(chat);
      // The first alone (a key not asked lately), the next two under a lease of 2 × 11 µ$, the
      // last two under one of 8 (asked again within a lease's lifetime, it grows): 55 spent, the
      // unused 66 still lent out...
      await expect.poll(() => bucketOf(tenant.tenantId)).toEqual({ spend: 55, reserved: 66 });
      await waitForLedgerRows(gateway.db, tenant.tenantId, 5);
      // ...until the lease retires and returns it.
      await expect.poll(() => bucketOf(tenant.tenantId), { timeout: LEASE_LIFETIME_MS + 5_000 }).toEqual({ spend: 55, reserved: 0 });
    });
  }

  it('records a request whose model PostgreSQL cannot store as written, and the ledger goes on behind it', async () => {
    // JSON lets a body name its model with a NUL or a lone surrogate, and an upstream may serve
    // it; PostgreSQL's text holds neither. Stored as written, that event would fail its batch on
    // every retry and hold back every event after it.
    const tenant = await gateway.createTenant();
    const client = gateway.client({ apiKey: tenant.key });
    for (const model of ['gpt-4o-mini\u0000x', 'gpt-\ud800mini', 'gpt-4o-mini']) {
      await client.chat.completions.create({ ...chat, model });
    }
    const rows = await waitForLedgerRows(gateway.db, tenant.tenantId, 3);
    expect(rows.map((r) => r.model).sort()).toEqual(['gpt-4o-mini', 'gpt-4o-mini\ufffdx', 'gpt-\ufffdmini']);
    expect(rows.every((r) => r.costMicros === 11)).toBe(true);
  });

  it('charges every request that reuses an x-request-id, keeping the id on each ledger row', async () => {
    const tenant = await gateway.createTenant();
    const client = gateway.client({ apiKey: tenant.key });
    for (let i = 0; i < 3; i++) await client.chat.completions.create(chat, { headers: { 'x-request-id': 'same-id' } });
    const rows = await waitForLedgerRows(gateway.db, tenant.tenantId, 3);
    expect(rows.map((r) => r.clientRequestId)).toEqual(['same-id', 'same-id', 'same-id']);
    expect(new Set(rows.map((r) => r.requestId)).size).toBe(3);
    expect(await spendOf(tenant.key)).toBe('0.000033');
  });

  it('refuses the request after one whose answer cost far more than estimated took the spend past the line, lease or not', async () => {
    // Block line 1,100 µ$ (budget 1,000 at grace 110 %). Every request is estimated at about 11 µ$
    // (max_tokens 5); a dear answer (2,000 completion tokens: x-sim-chunks) costs about 4,000.
    const tenant = await gateway.createTenant({ maxBudgetMicros: 1_000 });
    const client = gateway.client({ apiKey: tenant.key });
    // Cheap requests in a row: with Redis, the gateway now lends from a lease with slices to spare.
    for (let i = 0; i < 6; i++) await client.chat.completions.create(chat);
    await client.chat.completions.create(chat, { headers: { 'x-sim-chunks': '2000' } });
    // Its settle reaches the store (the client's answer never waits for it).
    await waitForLedgerRows(gateway.db, tenant.tenantId, 7);
    const next = await client.chat.completions.create(chat).then(
      () => 200,
      (err: { status: number }) => err.status,
    );
    expect(next).toBe(402);
    const rows = await ledgerRows(gateway.db, tenant.tenantId);
    expect(rows).toHaveLength(7);
  });

  describe('the upstream credential', () => {
    const lastAuthorization = () => (sim.requests.at(-1) as SimRequestInfo).headers.authorization;

    it('forwards a key registered from LiteLLM unchanged', async () => {
      const virtualKey = `sk-litellm-${randomUUID()}`;
      const tenant = await gateway.createTenant({}, { key: virtualKey });
      await gateway.client({ apiKey: tenant.key }).chat.completions.create(chat);
      expect(lastAuthorization()).toBe(`Bearer ${virtualKey}`);
    });

    it("replaces a key the gateway minted by the tenant's upstream_key, else LITELLM_API_KEY", async () => {
      const own = await gateway.createTenant({ upstreamKey: 'sk-tenant-upstream' });
      await gateway.client({ apiKey: own.key }).chat.completions.create(chat);
      expect(lastAuthorization()).toBe('Bearer sk-tenant-upstream');

      const shared = await gateway.createTenant();
      await gateway.client({ apiKey: shared.key }).chat.completions.create(chat);
      expect(lastAuthorization()).toBe('Bearer sk-gateway-upstream');
      expect(JSON.stringify(sim.requests.at(-1)!.headers)).not.toContain(shared.key);
    });
  });
});
