import { sql } from 'drizzle-orm';
import {
  bigint,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

/**
 * The database is the source of truth for configuration, ledger, overrides, audit and outbox
 * (DESIGN). Money is integer micro-dollars (bigint read as a JS number: exact up to 2^53 µ$,
 * about $9 billion), so no total ever drifts.
 */

const micros = (name: string) => bigint(name, { mode: 'number' });
const time = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const tenants = pgTable('tenants', {
  tenantId: text('tenant_id').primaryKey(),
  name: text('name'),
  maxBudgetMicros: micros('max_budget_micros').notNull(),
  alertThreshold: doublePrecision('alert_threshold').notNull().default(80),
  graceThreshold: doublePrecision('grace_threshold').notNull().default(110),
  budgetDuration: text('budget_duration').notNull().default('30d'),
  periodStartedAt: time('period_started_at').notNull(),
  budgetResetAt: time('budget_reset_at').notNull(),
  // Write-only: sent upstream for minted keys, never returned by the API.
  upstreamKey: text('upstream_key'),
  createdAt: time('created_at').notNull().defaultNow(),
  updatedAt: time('updated_at').notNull().defaultNow(),
  // Soft delete: ledger, audit and overrides keep referring to the tenant.
  deletedAt: time('deleted_at'),
});

export const apiKeys = pgTable(
  'api_keys',
  {
    keyId: text('key_id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.tenantId),
    // Hex SHA-256 of the key; the key itself is never stored.
    keyHash: text('key_hash').notNull().unique(),
    prefix: text('prefix').notNull(),
    origin: text('origin', { enum: ['minted', 'registered'] }).notNull(),
    createdAt: time('created_at').notNull().defaultNow(),
    revokedAt: time('revoked_at'),
  },
  (t) => [index('api_keys_tenant_id_idx').on(t.tenantId)],
);

export const usageLedger = pgTable(
  'usage_ledger',
  {
    // The gateway's request id: the ledger's idempotency key, so a replayed usage event counts once.
    requestId: uuid('request_id').primaryKey(),
    clientRequestId: text('client_request_id'),
    tenantId: text('tenant_id').notNull(),
    keyId: text('key_id'),
    model: text('model'),
    endpoint: text('endpoint').notNull(),
    status: integer('status').notNull(),
    promptTokens: integer('prompt_tokens').notNull().default(0),
    completionTokens: integer('completion_tokens').notNull().default(0),
    costMicros: micros('cost_micros').notNull(),
    costSource: text('cost_source', {
      enum: ['response_header', 'stream_usage', 'price_table', 'estimate'],
    }).notNull(),
    periodStartedAt: time('period_started_at').notNull(),
    createdAt: time('created_at').notNull(),
  },
  (t) => [
    index('usage_ledger_tenant_period_idx').on(t.tenantId, t.periodStartedAt),
    index('usage_ledger_tenant_created_idx').on(t.tenantId, t.createdAt),
  ],
);

export const budgetOverrides = pgTable(
  'budget_overrides',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: text('tenant_id').notNull(),
    overrideAmountMicros: micros('override_amount_micros').notNull(),
    expiresAt: time('expires_at').notNull(),
    reason: text('reason').notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: time('created_at').notNull().defaultNow(),
    endedAt: time('ended_at'),
    endReason: text('end_reason', { enum: ['removed', 'expired', 'replaced'] }),
  },
  // At most one open override per tenant, whatever races between admins and the expiry job.
  (t) => [uniqueIndex('budget_overrides_one_open_idx').on(t.tenantId).where(sql`ended_at is null`)],
);

export const auditLog = pgTable(
  'audit_log',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    at: time('at').notNull().defaultNow(),
    tenantId: text('tenant_id'),
    event: text('event').notNull(),
    actor: text('actor').notNull(),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [index('audit_log_tenant_at_idx').on(t.tenantId, t.at), index('audit_log_event_at_idx').on(t.event, t.at)],
);

export const alertHistory = pgTable(
  'alert_history',
  {
    tenantId: text('tenant_id').notNull(),
    scope: text('scope').notNull(),
    kind: text('kind', { enum: ['alert', 'blocked'] }).notNull(),
    threshold: doublePrecision('threshold').notNull(),
    periodStartedAt: time('period_started_at').notNull(),
    createdAt: time('created_at').notNull().defaultNow(),
  },
  // This key is what makes "once per tenant, threshold and period" hold across replicas.
  (t) => [primaryKey({ columns: [t.tenantId, t.scope, t.kind, t.threshold, t.periodStartedAt] })],
);

export const notificationOutbox = pgTable(
  'notification_outbox',
  {
    // Also the receiver's idempotency key (x-notification-id).
    id: uuid('id').primaryKey().defaultRandom(),
    event: text('event').notNull(),
    tenantId: text('tenant_id'),
    occurredAt: time('occurred_at').notNull().defaultNow(),
    message: text('message').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    status: text('status', { enum: ['pending', 'delivered', 'failed'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: time('next_attempt_at').notNull().defaultNow(),
    lastError: text('last_error'),
    deliveredAt: time('delivered_at'),
  },
  (t) => [index('notification_outbox_status_next_idx').on(t.status, t.nextAttemptAt)],
);

export type Tenant = typeof tenants.$inferSelect;
export type NewTenant = typeof tenants.$inferInsert;
export type ApiKey = typeof apiKeys.$inferSelect;
export type NewApiKey = typeof apiKeys.$inferInsert;
export type LedgerRow = typeof usageLedger.$inferSelect;
export type BudgetOverride = typeof budgetOverrides.$inferSelect;
export type NewBudgetOverride = typeof budgetOverrides.$inferInsert;
export type AuditEntry = typeof auditLog.$inferSelect;
export type NewAuditEntry = typeof auditLog.$inferInsert;
export type AlertCrossing = typeof alertHistory.$inferSelect;
export type Notification = typeof notificationOutbox.$inferSelect;
export type NewNotification = typeof notificationOutbox.$inferInsert;
