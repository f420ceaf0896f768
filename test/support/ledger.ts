import { randomUUID } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import { vi } from 'vitest';
import type { Db } from '../../src/db/client.js';
import { insertLedgerEvents } from '../../src/db/ledger.js';
import { encodeUsage, type UsageRecord } from '../../src/ledger/usage-event.js';
import { auditLog, notificationOutbox, usageLedger, type LedgerRow } from '../../src/db/schema.js';
import { getTenant } from '../../src/db/tenants.js';

/** One small chat's usage, as settle records it; `overrides` for what a test cares about. */
export function usageRecord(requestId: string, overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId,
    clientRequestId: null,
    tenantId: 't',
    keyId: null,
    model: 'gpt-4o-mini',
    endpoint: '/v1/chat/completions',
    status: 200,
    promptTokens: 1,
    completionTokens: 1,
    costMicros: 3,
    costSource: 'response_header',
    periodStartedAtMs: 0,
    createdAtMs: 0,
    ...overrides,
  };
}

export function ledgerRows(db: Db, tenantId: string): Promise<LedgerRow[]> {
  return db.select().from(usageLedger).where(eq(usageLedger.tenantId, tenantId)).orderBy(asc(usageLedger.createdAt));
}

/** A stored ledger row as the pipeline carries it: its usage event, as settle encodes it. */
export function usageEventOf(row: LedgerRow): string {
  return encodeUsage({ ...row, periodStartedAtMs: row.periodStartedAt.getTime(), createdAtMs: row.createdAt.getTime() });
}

/** Waits until the tenant's ledger holds `count` rows (usage reaches it asynchronously, by design). */
export async function waitForLedgerRows(db: Db, tenantId: string, count: number): Promise<LedgerRow[]> {
  return vi.waitFor(
    async () => {
      const rows = await ledgerRows(db, tenantId);
      if (rows.length < count) throw new Error(`ledger has ${rows.length} of ${count} rows`);
      return rows;
    },
    { timeout: 10_000, interval: 25 },
  );
}

/** Spend already in the tenant's current period, as if earlier requests had been served. */
export async function recordSpend(db: Db, tenantId: string, costMicros: number): Promise<void> {
  const tenant = (await getTenant(db, tenantId))!;
  await insertLedgerEvents(db, [
    encodeUsage(
      usageRecord(randomUUID(), { tenantId, promptTokens: 0, completionTokens: 0, costMicros, periodStartedAtMs: tenant.periodStartedAt.getTime(), createdAtMs: Date.now() }),
    ),
  ]);
}

export function auditEvents(db: Db, tenantId: string, event: string) {
  return db.select().from(auditLog).where(and(eq(auditLog.tenantId, tenantId), eq(auditLog.event, event)));
}

export function outboxEvents(db: Db, tenantId: string, event: string) {
  return db
    .select()
    .from(notificationOutbox)
    .where(and(eq(notificationOutbox.tenantId, tenantId), eq(notificationOutbox.event, event)));
}
