import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { getTenant } from '../../src/db/tenants.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { adminApi, type AdminAnswer } from '../support/admin.js';
import { startTestGateway, testDatabase, type TestGateway, type TestTenant } from '../support/gateway.js';
import { ledgerRows } from '../support/ledger.js';
import { sendChat, startLoad, tally, type Sent, type Target } from './support/load.js';
import { startPrivateRedis, type PrivateRedis } from './support/private-redis.js';

/**
 * 1,000 requests at once over 3 replicas (one shared Redis and database) against 50 tenants with
 * small budgets, while the admin API grants overrides to some tenants and removes them from
 * others. The hard cap (CONTRACT section 3) must hold for every tenant: its ledger spend ends at
 * most one request past the block line it was judged against. Fail mode `closed`, so a Redis
 * command that outlives its timeout on a loaded machine is a 503, never an admission without the
 * store (which is fail-open's promise, not the cap's); 503s are counted separately.
 */

/** What one simulated answer costs (its x-litellm-response-cost), and what its estimate reserves. */
const REQUEST_MICROS = 11;
/** Budget 100 µ$ at grace 110 %: a block line of 110 µ$, room for exactly 10 requests. */
const BUDGET_MICROS = 100;
const OVERRIDE_MICROS = 100;
const blockLine = (effectiveMicros: number) => (effectiveMicros * 110) / 100;

const TENANTS = 50;
/** Tenants 0-4 are granted an override that stays; 5-9 are granted one that is removed again; the rest are untouched. */
const KEPT = [0, 1, 2, 3, 4];
const REMOVED = [5, 6, 7, 8, 9];
/** 10 touched tenants × 40 + 40 untouched × 15 = 1,000; each asks for far more than its line. */
const REQUESTS_TOUCHED = 40;
const REQUESTS_UNTOUCHED = 15;

describe('1,000 simultaneous requests over 3 replicas and 50 tenants', () => {
  let redis: PrivateRedis;
  let sim: SimLiteLLM;
  let replicas: TestGateway[];
  let tenants: TestTenant[];

  beforeAll(async () => {
    redis = await startPrivateRedis();
    // Each answer takes a second upstream: admitted requests are in flight together, and the
    // storm outlasts the admin calls queued behind it.
    sim = await startSimLiteLLM({ latencyMs: 1_000 });
    const database = await testDatabase();
    const env = { LITELLM_BASE_URL: sim.url, REDIS_URL: redis.url, BUDGET_FAIL_MODE: 'closed' };
    replicas = await Promise.all([1, 2, 3].map(() => startTestGateway(env, { database })));
    tenants = await Promise.all(Array.from({ length: TENANTS }, () => replicas[0]!.createTenant({ maxBudgetMicros: BUDGET_MICROS })));
  }, 60_000);
  afterAll(async () => {
    await Promise.all((replicas ?? []).map((r) => r.shutdown()));
    await sim?.close();
    await redis?.stop();
  });

  it('keeps every tenant within one request of its block line while overrides change, and the overrides hold on every replica', async () => {
    const plan = shuffled(tenants.flatMap((tenant, i) => Array.from({ length: isTouched(i) ? REQUESTS_TOUCHED : REQUESTS_UNTOUCHED }, () => tenant)));
    expect(plan).toHaveLength(1_000);

    // The storm: every request sent at once, round-robin over the replicas, and behind it a
    // steady stream to the touched tenants, so admissions keep coming while the overrides change.
    const storm = Promise.all(plan.map((tenant, n) => sendChat({ url: replicas[n % 3]!.url, ...tenant })));
    const touched = [...KEPT, ...REMOVED];
    const load = startLoad((n) => ({ url: replicas[n % 3]!.url, ...tenants[touched[n % touched.length]!]! }), 20, FAST);
    const admin = adminApi(replicas[1]!.url);
    const adminAnswers: AdminAnswer[] = [];

    // Granted through one replica's admin API; every tenant then gets answers judged against the
    // larger budget (the answers carry it in x-budget-limit), wherever they land.
    const granted = await Promise.all(
      touched.map((i) =>
        admin.post(`/tenants/${tenants[i]!.tenantId}/budget-override`, {
          override_amount: OVERRIDE_MICROS / 1e6,
          duration: '1h',
          reason: 'chaos: granted during the storm',
        }),
      ),
    );
    adminAnswers.push(...granted);
    await waitForAnswersJudgedAgainst(load.sent, touched, BUDGET_MICROS + OVERRIDE_MICROS, Date.now());
    // Removed through another replica's; those tenants are judged against the plain budget again.
    adminAnswers.push(...(await Promise.all(REMOVED.map((i) => adminApi(replicas[2]!.url).delete(`/tenants/${tenants[i]!.tenantId}/budget-override`)))));
    await waitForAnswersJudgedAgainst(load.sent, REMOVED, BUDGET_MICROS, Date.now());
    const sent = [...(await storm), ...(await load.stop())];

    expect(adminAnswers.map((a) => a.status)).toEqual([...Array(10).fill(201), ...Array(5).fill(200)]);
    const statuses = tally(sent);
    expect(Object.keys(statuses).filter((s) => !['200', '402', '503'].includes(s)), JSON.stringify(statuses)).toEqual([]);
    expect(sent.filter((s) => s.status === 402).every((s) => s.code === 'budget_exceeded')).toBe(true);
    expect(sent.filter((s) => s.status === 503).every((s) => s.code === 'budget_store_unavailable')).toBe(true);
    expect(statuses[200]).toBeGreaterThan(0);
    expect(statuses[402]).toBeGreaterThan(0);

    // After the storm, on every replica: the kept overrides are in effect, the removed ones are not.
    const followUps: Sent[] = [];
    for (const i of [...KEPT, ...REMOVED]) {
      for (const replica of replicas) followUps.push(...(await sendUntilRefused({ url: replica.url, ...tenants[i]! })));
    }
    for (const i of KEPT) expect(refusedLimits(followUps, i), `tenant ${i}`).toEqual([BUDGET_MICROS + OVERRIDE_MICROS]);
    for (const i of REMOVED) expect(refusedLimits(followUps, i), `tenant ${i}`).toEqual([BUDGET_MICROS]);

    // Every request answered 200 is in the ledger exactly once, and nothing else is.
    const served = [...sent, ...followUps].filter((s) => s.status === 200).map((s) => s.requestId!);
    const rows = await vi.waitFor(
      async () => {
        const all = (await Promise.all(tenants.map((t) => ledgerRows(replicas[0]!.db, t.tenantId)))).flat();
        expect(all.length).toBe(served.length);
        return all;
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(new Set(rows.map((r) => r.requestId))).toEqual(new Set(served));

    const spend = (i: number) => sum(rows.filter((r) => r.tenantId === tenants[i]!.tenantId).map((r) => r.costMicros));
    for (let i = 0; i < TENANTS; i++) {
      // Untouched: exactly the base line plus one request; touched: the largest line they had plus one.
      const line = isTouched(i) ? blockLine(BUDGET_MICROS + OVERRIDE_MICROS) : blockLine(BUDGET_MICROS);
      expect(spend(i), `tenant ${i} (${tenants[i]!.tenantId})`).toBeLessThanOrEqual(line + REQUEST_MICROS);
    }
    // A kept override was used up to its line (the follow-ups ran until refused).
    for (const i of KEPT) expect(spend(i), `tenant ${i}`).toBeGreaterThanOrEqual(blockLine(BUDGET_MICROS + OVERRIDE_MICROS));

    // The shared spend counters equal the ledger.
    const store = new Redis(redis.url);
    try {
      for (let i = 0; i < TENANTS; i++) {
        const { periodStartedAt } = (await getTenant(replicas[0]!.db, tenants[i]!.tenantId))!;
        const bucket = `bg:tenant:${tenants[i]!.tenantId}:${periodStartedAt.getTime()}:usd`;
        await expect.poll(async () => Number(await store.hget(bucket, 'spend')), { timeout: 10_000, message: bucket }).toBe(spend(i));
      }
    } finally {
      store.disconnect();
    }
  }, 60_000);

  /** Requests one after another until a 402 (503s, which fail-closed may answer on a loaded machine, are retried). */
  async function sendUntilRefused(target: Target): Promise<Sent[]> {
    const sent: Sent[] = [];
    for (let attempt = 0; attempt < 100; attempt++) {
      const answer = await sendChat(target, FAST);
      sent.push(answer);
      if (answer.status === 402) return sent;
      expect([200, 503], JSON.stringify(answer)).toContain(answer.status);
    }
    throw new Error(`tenant ${target.tenantId} was never refused on ${target.url}`);
  }

  /** Waits until each tenant `indexes` names has an answer, finished after `sinceMs`, that was judged against `effectiveMicros`. */
  async function waitForAnswersJudgedAgainst(sent: readonly Sent[], indexes: readonly number[], effectiveMicros: number, sinceMs: number): Promise<void> {
    await vi.waitFor(
      () => {
        for (const i of indexes) {
          const judged = sent.filter((s) => s.tenantId === tenants[i]!.tenantId && s.doneAt > sinceMs && s.budgetLimit !== undefined);
          expect(judged.map((s) => micros(s.budgetLimit!)), `tenant ${i}`).toContain(effectiveMicros);
        }
      },
      { timeout: 15_000, interval: 50 },
    );
  }

  /** The effective budgets (µ$) the follow-up refusals of tenant `i` named, de-duplicated. */
  function refusedLimits(followUps: readonly Sent[], i: number): number[] {
    const limits = followUps.filter((s) => s.tenantId === tenants[i]!.tenantId && s.status === 402).map((s) => micros(s.budgetLimit!));
    expect(limits).toHaveLength(3);
    return [...new Set(limits)];
  }
});

/** Follow-up and steady-load requests skip the storm's upstream latency. */
const FAST = { 'x-sim-latency-ms': '0' };
const micros = (usd: string) => Math.round(Number(usd) * 1e6);
const isTouched = (i: number) => KEPT.includes(i) || REMOVED.includes(i);
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
