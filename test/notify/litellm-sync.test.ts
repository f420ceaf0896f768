import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createKey, hashKey, revokeKey } from '../../src/db/keys.js';
import { litellmTime } from '../../src/notify/litellm-keys.js';
import { keyActionOf, litellmSync } from '../../src/notify/litellm-sync.js';
import { startSimLiteLLM, type SimLiteLLM, type SimRequestInfo } from '../../src/sim/litellm.js';
import { startOutboxGateway, type OutboxGateway } from './harness.js';

const EXPIRY_MS = Date.UTC(2026, 7, 2, 12, 30, 0);

describe('LiteLLM sync rows', () => {
  it('are written on the litellm channel with the tenant and the amounts in USD', () => {
    expect(litellmSync.resetSpend('acme')).toEqual({
      channel: 'litellm',
      event: 'litellm_reset_spend',
      tenantId: 'acme',
      message: expect.stringContaining('acme'),
      data: { tenant_id: 'acme' },
    });
    expect(litellmSync.setTempBudget('acme', 25_500_001, EXPIRY_MS)).toMatchObject({
      channel: 'litellm',
      event: 'litellm_set_temp_budget',
      data: { tenant_id: 'acme', temp_budget_increase: 25.500001, temp_budget_expiry: '2026-08-02T12:30:00.000Z' },
    });
    expect(litellmSync.clearTempBudget('acme')).toMatchObject({ channel: 'litellm', event: 'litellm_clear_temp_budget', data: { tenant_id: 'acme' } });
  });

  it('read back as the key action they ask for; anything else is refused', () => {
    const set = litellmSync.setTempBudget('acme', 1_000_000, EXPIRY_MS);
    expect(keyActionOf(set.event, set.data)).toEqual({ kind: 'set_temp_budget', increaseUsd: 1, expiresAtMs: EXPIRY_MS });
    expect(keyActionOf('litellm_reset_spend', {})).toEqual({ kind: 'reset_spend' });
    expect(() => keyActionOf('litellm_set_temp_budget', { temp_budget_increase: 1 })).toThrow('temp_budget_expiry');
    expect(() => keyActionOf('litellm_delete_key', {})).toThrow('unknown LiteLLM sync event');
  });

  it('send LiteLLM its expiry in UTC without an offset (it compares with a naive datetime.now())', () => {
    expect(litellmTime(EXPIRY_MS)).toBe('2026-08-02T12:30:00');
  });
});

describe('LiteLLM key sync through the outbox', () => {
  let sim: SimLiteLLM;
  beforeAll(async () => {
    sim = await startSimLiteLLM();
  });
  afterAll(() => sim.close());
  afterEach(() => {
    sim.options.keyApiStatus = 0;
    sim.options.keyResetRoute = true;
  });

  async function litellmGateway(): Promise<OutboxGateway> {
    const box = await startOutboxGateway({ LITELLM_BASE_URL: sim.url, LITELLM_MASTER_KEY: sim.options.masterKey });
    onTestFinished(() => box.close());
    return box;
  }

  /** A tenant with one registered key that LiteLLM knows, with `spend` already spent there. */
  async function tenantWithLitellmKey(box: OutboxGateway, spend = 0) {
    const key = `sk-litellm-${randomUUID()}`;
    const tenant = await box.gateway.createTenant({}, { key });
    return { ...tenant, hash: hashKey(key), virtualKey: sim.keys.add(key, spend) };
  }

  /** Key management calls the simulated LiteLLM got about these key hashes. */
  const keyCalls = (...hashes: string[]): SimRequestInfo[] =>
    sim.requests.filter((r) => r.path.startsWith('/key/') && hashes.some((h) => r.path.includes(h) || (r.body as { key?: string })?.key === h));

  it("resets the spend of the tenant's registered keys with the master key and the key hash; minted and revoked keys are left alone", async () => {
    const box = await litellmGateway();
    const tenant = await tenantWithLitellmKey(box, 5);
    const second = `sk-litellm-${randomUUID()}`;
    const secondKey = await createKey(box.database.db, tenant.tenantId, { key: second });
    const secondVirtual = sim.keys.add(second, 7);
    const revoked = `sk-litellm-${randomUUID()}`;
    const revokedKey = await createKey(box.database.db, tenant.tenantId, { key: revoked });
    await revokeKey(box.database.db, tenant.tenantId, revokedKey.keyId);
    const revokedVirtual = sim.keys.add(revoked, 3);
    const minted = await createKey(box.database.db, tenant.tenantId);

    const queued = await box.queue(litellmSync.resetSpend(tenant.tenantId));
    await box.deliver();

    const calls = keyCalls(tenant.hash, hashKey(second), hashKey(revoked), hashKey(minted.key));
    expect(calls.map((c) => [c.method, c.path, c.body])).toEqual([
      ['POST', `/key/${tenant.hash}/reset_spend`, { reset_to: 0 }],
      ['POST', `/key/${hashKey(second)}/reset_spend`, { reset_to: 0 }],
    ]);
    for (const call of calls) expect(call.headers.authorization).toBe(`Bearer ${sim.options.masterKey}`);
    expect([tenant.virtualKey.spend, secondVirtual.spend, revokedVirtual.spend]).toEqual([0, 0, 3]);
    expect(await box.row(queued.id)).toMatchObject({
      status: 'delivered',
      deliveredTo: ['litellm', `litellm:${tenant.keyId}`, `litellm:${secondKey.keyId}`].sort(),
    });
  });

  it('sets the temporary budget increase through /key/update and clears it to 0, expired when it was removed', async () => {
    const box = await litellmGateway();
    const tenant = await tenantWithLitellmKey(box);

    await box.queue(litellmSync.setTempBudget(tenant.tenantId, 25_500_000, EXPIRY_MS));
    await box.deliver();
    expect(keyCalls(tenant.hash).at(-1)).toMatchObject({
      path: '/key/update',
      body: { key: tenant.hash, temp_budget_increase: 25.5, temp_budget_expiry: '2026-08-02T12:30:00' },
    });
    expect(tenant.virtualKey.metadata).toEqual({ temp_budget_increase: 25.5, temp_budget_expiry: '2026-08-02T12:30:00' });

    const cleared = await box.queue(litellmSync.clearTempBudget(tenant.tenantId));
    await box.deliver();
    expect(tenant.virtualKey.metadata).toEqual({ temp_budget_increase: 0, temp_budget_expiry: litellmTime(cleared.occurredAt.getTime()) });
  });

  it('counts a key LiteLLM does not know (404) as done instead of retrying it', async () => {
    const box = await litellmGateway();
    const tenant = await box.gateway.createTenant({}, { key: `sk-unknown-to-litellm-${randomUUID()}` });

    const queued = await box.queue(litellmSync.resetSpend(tenant.tenantId));
    await box.deliver();

    expect(await box.row(queued.id)).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('only delays the sync while LiteLLM is down, and does not repeat keys already updated', async () => {
    const box = await litellmGateway();
    const tenant = await tenantWithLitellmKey(box, 5);
    const second = `sk-litellm-${randomUUID()}`;
    await createKey(box.database.db, tenant.tenantId, { key: second });
    const secondVirtual = sim.keys.add(second, 7);
    // LiteLLM goes down after the first key was reset.
    const goDown = (info: SimRequestInfo) => {
      if (info.path.includes(hashKey(second))) sim.options.keyApiStatus = 503;
    };
    sim.events.on('request', goDown);
    onTestFinished(() => void sim.events.off('request', goDown));

    const queued = await box.queue(litellmSync.resetSpend(tenant.tenantId));
    await box.deliver();
    const pending = await box.row(queued.id);
    expect(pending).toMatchObject({ status: 'pending', attempts: 1, deliveredTo: [`litellm:${tenant.keyId}`] });
    expect(pending.lastError).toMatch(/^litellm: key_\w+: HTTP 503/);
    expect(secondVirtual.spend).toBe(7);

    sim.events.off('request', goDown);
    sim.options.keyApiStatus = 0;
    box.nowMs += 2_000;
    await box.deliver();

    expect(keyCalls(tenant.hash)).toHaveLength(1);
    expect(keyCalls(hashKey(second))).toHaveLength(2);
    expect([tenant.virtualKey.spend, secondVirtual.spend]).toEqual([0, 0]);
    expect(await box.row(queued.id)).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('retries a refused master key like an outage', async () => {
    const box = await startOutboxGateway({ LITELLM_BASE_URL: sim.url, LITELLM_MASTER_KEY: 'sk-wrong-master' });
    onTestFinished(() => box.close());
    const tenant = await tenantWithLitellmKey(box, 5);

    const queued = await box.queue(litellmSync.resetSpend(tenant.tenantId));
    await box.deliver();

    expect(await box.row(queued.id)).toMatchObject({ status: 'pending', lastError: expect.stringContaining('HTTP 401') });
    expect(tenant.virtualKey.spend).toBe(5);
  });

  it('falls back to /key/update {spend: 0} on a LiteLLM without /key/{key}/reset_spend', async () => {
    sim.options.keyResetRoute = false;
    const box = await litellmGateway();
    const tenant = await tenantWithLitellmKey(box, 5);

    await box.queue(litellmSync.resetSpend(tenant.tenantId));
    await box.deliver();

    expect(keyCalls(tenant.hash).map((c) => [c.path, c.body])).toEqual([
      [`/key/${tenant.hash}/reset_spend`, { reset_to: 0 }],
      ['/key/update', { key: tenant.hash, spend: 0 }],
    ]);
    expect(tenant.virtualKey.spend).toBe(0);
  });

  it("applies a tenant's updates in the order they were written, even across a retry", async () => {
    const box = await litellmGateway();
    const tenant = await tenantWithLitellmKey(box);
    sim.options.keyApiStatus = 503;
    const set = await box.queue(litellmSync.setTempBudget(tenant.tenantId, 10_000_000, EXPIRY_MS));
    const clear = await box.queue(litellmSync.clearTempBudget(tenant.tenantId));

    await box.deliver();
    expect(await box.row(clear.id)).toEqual(clear);

    sim.options.keyApiStatus = 0;
    box.nowMs += 2_000;
    await box.deliver();
    await box.deliver();

    expect(keyCalls(tenant.hash).map((c) => (c.body as { temp_budget_increase: number }).temp_budget_increase)).toEqual([10, 10, 0]);
    expect(tenant.virtualKey.metadata).toMatchObject({ temp_budget_increase: 0 });
    expect((await box.row(set.id)).status).toBe('delivered');
    expect((await box.row(clear.id)).status).toBe('delivered');
  });
});
