import { randomUUID } from 'node:crypto';
import { and, eq, sql, type Placeholder } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { recordCrossing, type Crossing } from '../../src/db/alerts.js';
import { isUniqueViolation } from '../../src/db/errors.js';
import type { LedgerScope, Unit } from '../../src/budget/scopes.js';
import { insertLedgerEvents, ledgerTotal, ledgerTotalQuery, periodSpend, writeLedgerEvents, type LedgerRow } from '../../src/db/ledger.js';
import { activeOverride } from '../../src/db/overrides.js';
import { auditLog, budgetOverrides, notificationOutbox, usageLedger, type NewBudgetOverride } from '../../src/db/schema.js';
import { forEachDatabase, rowsOf } from '../support/databases.js';
import { usageEventOf } from '../support/ledger.js';
import { tenantId } from '../support/tenants.js';

const PERIOD = new Date('2030-01-01T00:00:00Z');
const NEXT_PERIOD = new Date('2030-01-31T00:00:00Z');

function row(tenant: string, overrides: Partial<LedgerRow> = {}): LedgerRow {
  return {
    requestId: randomUUID(),
    clientRequestId: null,
    tenantId: tenant,
    keyId: 'key_test',
    model: 'gpt-4o-mini',
    endpoint: 'chat/completions',
    status: 200,
    promptTokens: 10,
    completionTokens: 5,
    costMicros: 1_234,
    costSource: 'response_header',
    periodStartedAt: PERIOD,
    createdAt: new Date('2030-01-02T03:04:05.678Z'),
    ...overrides,
  };
}

function crossing(tenant: string, overrides: Partial<Crossing> = {}): Crossing {
  return {
    tenantId: tenant,
    scope: 'tenant',
    kind: 'alert',
    threshold: 80,
    periodStartedAt: PERIOD,
    actor: 'system',
    details: { spend: 80, max_budget: 100, threshold: 80 },
    notification: { event: 'budget_alert', message: 'Tenant reached 80% of its budget', data: { threshold: 80 } },
    ...overrides,
  };
}

const NOW = new Date('2030-06-01T12:00:00Z');

function override(tenant: string, overrides: Partial<NewBudgetOverride> = {}): NewBudgetOverride {
  return {
    tenantId: tenant,
    overrideAmountMicros: 50_000_000,
    expiresAt: new Date(NOW.getTime() + 3_600_000),
    reason: 'quarter-end crunch',
    createdBy: 'admin',
    ...overrides,
  };
}

/** Rows as the pipeline hands them over: encoded usage events. */
const insertRows = (db: Parameters<typeof insertLedgerEvents>[0], rows: readonly LedgerRow[]) => insertLedgerEvents(db, rows.map(usageEventOf));

// One database per backend for the whole file: a PGlite start costs more than all of these tests.
forEachDatabase('budget records', (t) => {
  describe('usage ledger', () => {
    it('counts a request id once, however often it is written, and says how many rows were new', async () => {
      const tenant = tenantId();
      const a = row(tenant, { clientRequestId: 'client-1' });
      const b = row(tenant, { clientRequestId: 'client-1', costMicros: 999_999 });
      expect(await insertRows(t.db, [a, b])).toBe(2);
      expect(await insertRows(t.db, [a, row(tenant)])).toBe(1);
      expect(await insertRows(t.db, [a, b])).toBe(0);
      expect(await insertRows(t.db, [])).toBe(0);
      expect((await periodSpend(t.db, tenant, PERIOD)).requests).toBe(3);
    });

    it('takes encoded usage events as they come off the pipeline: every field, idempotently', async () => {
      const tenant = tenantId();
      const a = row(tenant, { clientRequestId: 'client-9', keyId: 'key_1', costMicros: 9_007_199_254_740_991, costSource: 'stream_usage' });
      const b = row(tenant, { model: null, promptTokens: 7, completionTokens: 3 });
      expect(await insertLedgerEvents(t.db, [usageEventOf(a), usageEventOf(b)])).toBe(2);
      expect(await insertLedgerEvents(t.db, [usageEventOf(a), usageEventOf(row(tenant))])).toBe(1);
      expect(await insertLedgerEvents(t.db, [])).toBe(0);
      const stored = await t.db.select().from(usageLedger).where(eq(usageLedger.requestId, a.requestId));
      expect(stored).toEqual([a]);
      expect((await periodSpend(t.db, tenant, PERIOD)).requests).toBe(3);
    });

    it('writes batches as the pipelines do (COPY on PGlite): every field exactly, text with commas, quotes and line breaks too', async () => {
      const tenant = tenantId();
      const rows = [
        row(tenant, { clientRequestId: 'a,"b"\n\\c\r\t', keyId: null, model: null, costMicros: 9_007_199_254_740_991 }),
        row(tenant, { clientRequestId: '', model: 'ümlaut-é-😀', endpoint: '/v1/chat/completions', costSource: 'estimate' }),
        row(tenant, { clientRequestId: '\\.', model: 'NULL', promptTokens: 0, completionTokens: 0, status: 499 }),
      ];
      expect(await writeLedgerEvents(t.database, rows.map(usageEventOf))).toBe(3);
      const stored = await t.db.select().from(usageLedger).where(eq(usageLedger.tenantId, tenant));
      expect(new Set(stored.map((r) => JSON.stringify(r)))).toEqual(new Set(rows.map((r) => JSON.stringify(r))));
    });

    it('stores every event the gateway encodes: NUL and lone surrogates in text, token counts past 2^31', async () => {
      // One event the table refused would fail its batch on every retry (see encodeUsage).
      const tenant = tenantId();
      const odd = row(tenant, { clientRequestId: 'a\u0000b', model: 'gpt-\ud800\u0000\udc00-😀', promptTokens: 2 ** 31, completionTokens: 2 ** 40 });
      expect(await writeLedgerEvents(t.database, [usageEventOf(odd), usageEventOf(row(tenant))])).toBe(2);
      const [stored] = await t.db.select().from(usageLedger).where(eq(usageLedger.requestId, odd.requestId));
      expect(stored).toMatchObject({ clientRequestId: 'a\ufffdb', model: 'gpt-\ufffd\ufffd\ufffd-😀', promptTokens: 2 ** 31 - 1, completionTokens: 2 ** 31 - 1 });
    });

    it('fails a batch the table refuses, whole, and writes the next one on the same connections', async () => {
      // Not an event encodeUsage would make (it writes U+FFFD for a NUL): one made by hand.
      const tenant = tenantId();
      const refused = usageEventOf(row(tenant)).replace('"model":"gpt-4o-mini"', '"model":"gpt\\u0000"');
      await expect(writeLedgerEvents(t.database, [usageEventOf(row(tenant)), refused])).rejects.toThrow();
      expect(await writeLedgerEvents(t.database, [usageEventOf(row(tenant))])).toBe(1);
      expect((await periodSpend(t.db, tenant, PERIOD)).requests).toBe(1);
    });

    it('counts a replayed request once when it comes back in a batch of new ones, and writes the new ones', async () => {
      const tenant = tenantId();
      const [a, b, c, d, e] = [row(tenant), row(tenant), row(tenant), row(tenant), row(tenant)];
      expect(await writeLedgerEvents(t.database, [a, b].map(usageEventOf))).toBe(2);
      // The first try of [c, a] (COPY on PGlite, a plain INSERT on PostgreSQL) fails whole on a;
      // written again with the conflict-checking INSERT, c goes in once.
      expect(await writeLedgerEvents(t.database, [c, a].map(usageEventOf))).toBe(1);
      // The same event twice in one batch (a settle retried) is one row too.
      expect(await writeLedgerEvents(t.database, [e, e].map(usageEventOf))).toBe(1);
      expect(await writeLedgerEvents(t.database, [a, b, c].map(usageEventOf))).toBe(0);
      expect(await writeLedgerEvents(t.database, [d].map(usageEventOf))).toBe(1);
      expect(await writeLedgerEvents(t.database, [])).toBe(0);
      expect((await periodSpend(t.db, tenant, PERIOD)).requests).toBe(5);
    });

    it("sums one tenant's period exactly, in integer micro-dollars", async () => {
      const tenant = tenantId();
      await insertRows(t.db, [
        row(tenant, { costMicros: 9_007_199_254_740_000, promptTokens: 100, completionTokens: 1 }),
        row(tenant, { costMicros: 991, promptTokens: 200, completionTokens: 2, costSource: 'estimate' }),
        row(tenant, { costMicros: 5_000, periodStartedAt: NEXT_PERIOD }),
        row(tenantId(), { costMicros: 7_000 }),
      ]);
      expect(await periodSpend(t.db, tenant, PERIOD)).toEqual({
        costMicros: 9_007_199_254_740_991,
        requests: 2,
        promptTokens: 300,
        completionTokens: 3,
      });
      expect(await periodSpend(t.db, tenant, NEXT_PERIOD)).toMatchObject({ costMicros: 5_000, requests: 1 });
      expect(await periodSpend(t.db, tenantId(), PERIOD)).toEqual({
        costMicros: 0,
        requests: 0,
        promptTokens: 0,
        completionTokens: 0,
      });
    });

    it("seeds every scope's bucket from its own rows, in each unit, whatever the statement last ran with", async () => {
      // The statements are built once per database and then only run: each call in turn must get
      // its own answer, not the values of the call before it.
      const [a, b] = [tenantId(), tenantId()];
      const start = new Date('2031-03-01T00:00:00Z');
      const period = { startMs: start.getTime(), endMs: start.getTime() + 86_400_000 };
      const at = (minutes: number) => new Date(start.getTime() + minutes * 60_000);
      const inPeriod = { periodStartedAt: start, createdAt: at(1) };
      await insertRows(t.db, [
        row(a, { ...inPeriod, keyId: 'key_a1', model: 'gpt-4o', costMicros: 100, promptTokens: 1, completionTokens: 2 }),
        row(a, { ...inPeriod, keyId: 'key_a2', model: 'gpt-4o-mini', costMicros: 20, promptTokens: 3, completionTokens: 4 }),
        row(b, { ...inPeriod, keyId: 'key_b', model: 'gpt-4o', costMicros: 3, promptTokens: 5, completionTokens: 6 }),
        // Another period of tenant a's, created inside the global day: only the global cap counts it.
        row(a, { keyId: 'key_a1', model: 'gpt-4o', periodStartedAt: PERIOD, createdAt: at(2), costMicros: 4_000, promptTokens: 7, completionTokens: 8 }),
        // After the global day, in tenant a's period: every scope but the global one counts it.
        row(a, { keyId: 'key_a1', model: 'gpt-4o', periodStartedAt: start, createdAt: at(24 * 60), costMicros: 50_000, promptTokens: 9, completionTokens: 10 }),
      ]);
      const cases: [LedgerScope, Unit, number][] = [
        [{ kind: 'tenant', tenantId: a }, 'usd', 50_120],
        [{ kind: 'tenant', tenantId: b }, 'usd', 3],
        [{ kind: 'tenant', tenantId: a }, 'tokens', 1 + 2 + 3 + 4 + 9 + 10],
        [{ kind: 'tenant', tenantId: a }, 'requests', 3],
        [{ kind: 'model', tenantId: a, model: 'gpt-4o' }, 'usd', 50_100],
        [{ kind: 'model', tenantId: b, model: 'gpt-4o' }, 'usd', 3],
        [{ kind: 'model', tenantId: a, model: 'gpt-4o-mini' }, 'requests', 1],
        [{ kind: 'key', tenantId: a, keyId: 'key_a1' }, 'usd', 50_100],
        [{ kind: 'key', tenantId: b, keyId: 'key_b' }, 'tokens', 11],
        [{ kind: 'key', tenantId: a, keyId: 'key_a2' }, 'requests', 1],
        [{ kind: 'global' }, 'usd', 4_123],
        [{ kind: 'global' }, 'tokens', 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8],
        [{ kind: 'global' }, 'requests', 4],
        [{ kind: 'tenant', tenantId: tenantId() }, 'usd', 0],
      ];
      for (const [scope, unit, expected] of [...cases, ...cases.slice().reverse()]) {
        expect(await ledgerTotal(t.db, scope, unit, period), `${JSON.stringify(scope)} ${unit}`).toBe(expected);
      }
      // The next day holds only the late row of tenant a.
      expect(await ledgerTotal(t.db, { kind: 'global' }, 'usd', { startMs: period.endMs, endMs: period.endMs + 86_400_000 })).toBe(50_000);
    });

    it("finds every scope's rows through an index led by the scope's own columns", async () => {
      // The ledger only grows: a counter rebuilt from it must not read the whole table. With
      // sequential scans off, the planner still falls back to one, or to walking a whole index
      // with the condition as a filter, when no index leads with the right columns.
      const values: Record<string, string> = { tenantId: tenantId(), keyId: 'key_x', model: 'gpt-4o', start: '2031-03-01T00:00:00Z', end: '2031-03-02T00:00:00Z' };
      const expected: [LedgerScope['kind'], string, string[]][] = [
        ['tenant', 'usage_ledger_tenant_period_key_idx', ['tenant_id', 'period_started_at']],
        ['model', 'usage_ledger_tenant_period_key_idx', ['tenant_id', 'period_started_at']],
        ['key', 'usage_ledger_tenant_period_key_idx', ['tenant_id', 'period_started_at', 'key_id']],
        ['global', 'usage_ledger_created_idx', ['created_at']],
      ];
      for (const [kind, index, columns] of expected) {
        const query = ledgerTotalQuery(t.db, kind, 'usd').toSQL();
        const inlined = query.sql.replace(/\$(\d+)/g, (_, n: string) => `'${values[(query.params[Number(n) - 1] as Placeholder).name]!}'`);
        const plan = await t.db.transaction(async (tx) => {
          await tx.execute(sql`set local enable_seqscan = off`);
          return rowsOf<{ 'QUERY PLAN': string }>(tx, sql.raw(`explain ${inlined}`));
        });
        const lines = plan.map((line) => line['QUERY PLAN']);
        expect(lines.join('\n'), kind).toContain(index);
        const conditions = lines.filter((line) => line.includes('Index Cond:')).join(' ');
        for (const column of columns) expect(conditions, `${kind}: ${lines.join('\n')}`).toContain(column);
      }
    });

    it('writes a batch of thousands of rows as one statement', async () => {
      const tenant = tenantId();
      const rows = Array.from({ length: 2_001 }, () => row(tenant, { costMicros: 1 }));
      expect(await insertRows(t.db, rows)).toBe(2_001);
      expect(await insertRows(t.db, rows)).toBe(0);
      expect(await periodSpend(t.db, tenant, PERIOD)).toMatchObject({ costMicros: 2_001, requests: 2_001 });
    });
  });

  describe('threshold crossings', () => {
    async function written(tenant: string) {
      const audit = await t.db.select().from(auditLog).where(eq(auditLog.tenantId, tenant));
      const outbox = await t.db.select().from(notificationOutbox).where(eq(notificationOutbox.tenantId, tenant));
      return { audit, outbox };
    }

    it('records a crossing once: one audit entry and one notification', async () => {
      const tenant = tenantId();
      expect(await recordCrossing(t.db, crossing(tenant))).toBe(true);
      expect(await recordCrossing(t.db, crossing(tenant))).toBe(false);

      const { audit, outbox } = await written(tenant);
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ event: 'budget_alert', actor: 'system', details: crossing(tenant).details });
      expect(outbox).toHaveLength(1);
      expect(outbox[0]).toMatchObject({
        event: 'budget_alert',
        status: 'pending',
        attempts: 0,
        data: { threshold: 80 },
      });
    });

    it('treats another threshold, kind or period as a new crossing', async () => {
      const tenant = tenantId();
      expect(await recordCrossing(t.db, crossing(tenant))).toBe(true);
      expect(await recordCrossing(t.db, crossing(tenant, { threshold: 90 }))).toBe(true);
      const nextPeriod = crossing(tenant, { periodStartedAt: new Date('2030-02-01T00:00:00Z') });
      expect(await recordCrossing(t.db, nextPeriod)).toBe(true);
      const blocked = crossing(tenant, {
        kind: 'blocked',
        threshold: 110,
        notification: { event: 'budget_blocked', message: 'Tenant is blocked', data: {} },
      });
      expect(await recordCrossing(t.db, blocked)).toBe(true);
      expect(await recordCrossing(t.db, blocked)).toBe(false);

      const audit = await t.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.tenantId, tenant), eq(auditLog.event, 'budget_blocked')));
      expect(audit).toHaveLength(1);
      expect((await written(tenant)).outbox).toHaveLength(4);
    });

    it('lets exactly one of ten concurrent calls win', async () => {
      const tenant = tenantId();
      const results = await Promise.all(Array.from({ length: 10 }, () => recordCrossing(t.db, crossing(tenant))));
      expect(results.filter(Boolean)).toHaveLength(1);
      const { audit, outbox } = await written(tenant);
      expect(audit).toHaveLength(1);
      expect(outbox).toHaveLength(1);
    });
  });

  describe('budget overrides', () => {
    it('finds the open override until the second it expires', async () => {
      const tenant = tenantId();
      await t.db.insert(budgetOverrides).values(override(tenant, { expiresAt: new Date(NOW.getTime() + 1_000) }));
      expect(await activeOverride(t.db, tenant, NOW)).toMatchObject({
        tenantId: tenant,
        overrideAmountMicros: 50_000_000,
      });
      expect(await activeOverride(t.db, tenant, new Date(NOW.getTime() + 999))).toBeDefined();
      expect(await activeOverride(t.db, tenant, new Date(NOW.getTime() + 1_000))).toBeUndefined();
    });

    it('ignores an ended override and allows a new one after it', async () => {
      const tenant = tenantId();
      await t.db.insert(budgetOverrides).values(override(tenant, { endedAt: NOW, endReason: 'removed' }));
      expect(await activeOverride(t.db, tenant, NOW)).toBeUndefined();
      await t.db.insert(budgetOverrides).values(override(tenant, { overrideAmountMicros: 1 }));
      expect((await activeOverride(t.db, tenant, NOW))?.overrideAmountMicros).toBe(1);
    });

    it('refuses a second open override for the same tenant', async () => {
      const tenant = tenantId();
      await t.db.insert(budgetOverrides).values(override(tenant));
      const second = t.db.insert(budgetOverrides).values(override(tenant)).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isUniqueViolation(await second)).toBe(true);
    });
  });
});
