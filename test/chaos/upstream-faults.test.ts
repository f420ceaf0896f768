import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { request } from 'undici';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { SimLiteLLM } from '../../src/sim/litellm.js';
import { adminApi } from '../support/admin.js';
import { closedPort, sample, startTestGateway, withSimAndGateway, type TestGateway, type TestTenant } from '../support/gateway.js';
import { ledgerRows } from '../support/ledger.js';

/**
 * The upstream misbehaving every way it can: refusing connections, cutting streams, answering
 * 5xx, hanging, trickling. The gateway must answer each within its timeouts, open and close the
 * breaker, leave no reservation behind, charge exactly what was served, and not grow in memory.
 */

const TIMEOUT_MS = 600;
const chat = (stream = false) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, stream });

interface Outcome {
  readonly status: number;
  /** Whether the body arrived whole (false: the connection was cut mid-answer). */
  readonly complete: boolean;
  readonly ms: number;
  readonly requestId: string | undefined;
}

async function send(gateway: TestGateway, tenant: TestTenant, headers: Record<string, string> = {}, stream = false): Promise<Outcome> {
  const started = performance.now();
  const res = await request(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/json', ...headers },
    body: chat(stream),
  });
  const complete = await res.body.text().then(() => true, () => false);
  return { status: res.statusCode, complete, ms: performance.now() - started, requestId: res.headers['x-request-id'] as string | undefined };
}

/** What the tenant's budget holds for requests in flight; 0 once every exchange has ended. */
async function reservedUsd(gateway: TestGateway, tenant: TestTenant): Promise<number> {
  return (await adminApi(gateway.url).get(`/tenants/${tenant.tenantId}`)).body.reserved;
}

describe('upstream faults', () => {
  const suite = withSimAndGateway({
    UPSTREAM_HEADERS_TIMEOUT_MS: String(TIMEOUT_MS),
    UPSTREAM_BODY_TIMEOUT_MS: String(TIMEOUT_MS),
    BREAKER_VOLUME_THRESHOLD: '10',
    BREAKER_ERROR_THRESHOLD_PERCENT: '50',
    BREAKER_RESET_TIMEOUT_MS: '300',
  });
  let sim: SimLiteLLM;
  let gateway: TestGateway;
  let tenant: TestTenant;
  beforeAll(() => void ({ sim, gateway, tenant } = suite));

  const circuitState = async () => sample(await gateway.metrics(), 'budget_gateway_circuit_state');

  it('answers a hung upstream with 504 upstream_timeout within its timeout, and releases the reservation', async () => {
    const hung = await Promise.all(Array.from({ length: 5 }, () => send(gateway, tenant, { 'x-sim-hang': '1' })));
    for (const outcome of hung) {
      expect(outcome.status).toBe(504);
      expect(outcome.ms).toBeLessThan(TIMEOUT_MS + 1_500);
    }
    await expect.poll(() => reservedUsd(gateway, tenant)).toBe(0);
    expect(await ledgerRows(gateway.db, tenant.tenantId)).toHaveLength(0);
  });

  it('cuts a stream that stalls past the body timeout instead of holding the client, and charges what was served once', async () => {
    const stalled = await send(gateway, tenant, { 'x-sim-chunk-delay-ms': String(TIMEOUT_MS * 4), 'x-sim-chunks': '3' }, true);
    expect(stalled).toMatchObject({ status: 200, complete: false });
    expect(stalled.ms).toBeLessThan(TIMEOUT_MS * 4);
    await expect.poll(() => reservedUsd(gateway, tenant)).toBe(0);
    const rows = await vi.waitFor(async () => {
      const found = (await ledgerRows(gateway.db, tenant.tenantId)).filter((r) => r.requestId === stalled.requestId);
      expect(found).toHaveLength(1);
      return found;
    });
    expect(rows[0]!.costMicros).toBeGreaterThan(0);
  });

  it('passes a slow trickle that stays within the timeouts through whole, charged once', async () => {
    const trickle = await send(gateway, tenant, { 'x-sim-chunk-delay-ms': String(TIMEOUT_MS / 3), 'x-sim-chunks': '6' }, true);
    expect(trickle).toMatchObject({ status: 200, complete: true });
    await vi.waitFor(async () => expect((await ledgerRows(gateway.db, tenant.tenantId)).filter((r) => r.requestId === trickle.requestId)).toHaveLength(1));
  });

  it('charges each stream the upstream reset mid-way once, and leaves nothing reserved', async () => {
    const before = (await ledgerRows(gateway.db, tenant.tenantId)).length;
    const cut = await Promise.all(Array.from({ length: 10 }, () => send(gateway, tenant, { 'x-sim-disconnect-after-chunks': '2', 'x-sim-chunks': '8' }, true)));
    for (const outcome of cut) expect(outcome).toMatchObject({ status: 200, complete: false });
    await expect.poll(() => reservedUsd(gateway, tenant)).toBe(0);
    await expect.poll(async () => (await ledgerRows(gateway.db, tenant.tenantId)).length).toBe(before + 10);
    const ids = new Set((await ledgerRows(gateway.db, tenant.tenantId)).map((r) => r.requestId));
    for (const outcome of cut) expect(ids.has(outcome.requestId!)).toBe(true);
  });

  it('opens the breaker on a 5xx storm, refuses fast while open, recovers, and charges none of the failures', async () => {
    const before = (await ledgerRows(gateway.db, tenant.tenantId)).length;
    const storm = await Promise.all(Array.from({ length: 40 }, () => send(gateway, tenant, { 'x-sim-status': '503' })));
    expect(storm.every((o) => o.status === 503)).toBe(true);
    expect(await circuitState()).toBe(2);
    const refused = await send(gateway, tenant);
    expect(refused.status).toBe(503);
    expect(refused.ms).toBeLessThan(200);

    await vi.waitFor(async () => expect(await circuitState()).toBe(1), { timeout: 5_000, interval: 50 });
    expect((await send(gateway, tenant)).status).toBe(200);
    expect(await circuitState()).toBe(0);
    await expect.poll(() => reservedUsd(gateway, tenant)).toBe(0);
    await expect.poll(async () => (await ledgerRows(gateway.db, tenant.tenantId)).length).toBe(before + 1);
  });

  it('does not grow in memory over 2,000 faulty requests', async () => {
    const faults: Record<string, string>[] = [{ 'x-sim-status': '500' }, { 'x-sim-status': '429' }, { 'x-sim-disconnect-after-chunks': '1' }, {}];
    const round = async () => {
      for (let batch = 0; batch < 20; batch++) {
        await Promise.all(Array.from({ length: 25 }, (_, i) => send(gateway, tenant, faults[i % faults.length]!, i % 4 === 2)));
        // A storm opens the breaker; wait it out so the faults keep reaching the exchange code.
        await vi.waitFor(async () => expect(await circuitState()).not.toBe(2), { timeout: 5_000, interval: 20 });
      }
      await expect.poll(() => reservedUsd(gateway, tenant)).toBe(0);
      return heapAfterGc();
    };
    await round(); // warm-up: caches, pools, JIT
    const first = await round();
    const second = await round();
    const third = await round();
    // 500 requests a round: a leak of even 10 kB a request would add 5 MB a round.
    expect(third - first, `heap ${mb(first)} → ${mb(second)} → ${mb(third)}`).toBeLessThan(8 * 1024 * 1024);
    expect(sim.inFlight()).toBe(0);
  }, 90_000);
});

describe('an upstream that refuses connections', () => {
  it('answers 502 then 503 circuit_open, never hangs, and leaves nothing reserved or charged', async () => {
    const gateway = await startTestGateway({
      LITELLM_BASE_URL: `http://127.0.0.1:${await closedPort()}`,
      BREAKER_VOLUME_THRESHOLD: '5',
      BREAKER_RESET_TIMEOUT_MS: '60000',
    });
    try {
      const tenant = await gateway.createTenant();
      const outcomes = await Promise.all(Array.from({ length: 20 }, () => send(gateway, tenant)));
      expect(outcomes.every((o) => o.status === 502 || o.status === 503)).toBe(true);
      expect((await send(gateway, tenant)).status).toBe(503);
      expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(3_000);
      await expect.poll(() => reservedUsd(gateway, tenant)).toBe(0);
      expect(await ledgerRows(gateway.db, tenant.tenantId)).toHaveLength(0);
    } finally {
      await gateway.shutdown();
    }
  });
});

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
