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
  // Where the period grid starts: boundaries are period_anchor_at + k * budget_duration. Kept
  // apart from budget_reset_at because calendar months clamp (Jan 31 -> Feb 28 -> Mar 31): the
  // grid must not drift to the 28th once a short month has passed. Null: budget_reset_at.
  periodAnchorAt: time('period_anchor_at'),
  // Write-only: sent upstream for minted keys, never returned by the API.
  upstreamKey: text('upstream_key'),
  // Budget scopes (CONTRACT section 11), all in the tenant's period. Null: no such limit.
  // `{ "<model or LiteLLM model group>": <max budget in micros> }`
  modelBudgets: jsonb('model_budgets').$type<Record<string, number>>(),
  maxTokens: bigint('max_tokens', { mode: 'number' }),
  maxRequests: bigint('max_requests', { mode: 'number' }),
  // Percents, ascending; replaces alert_threshold when set.
  alertThresholds: jsonb('alert_thresholds').$type<number[]>(),
  createdAt: time('created_at').notNull().defaultNow(),
  updatedAt: time('updated_at').notNull().defaultNow(),
  // Soft delete: ledger, audit and overrides keep referring to the tenant.
  deletedAt: time('deleted_at'),
}, (t) => [index('tenants_due_idx').on(t.budgetResetAt).where(sql`deleted_at is null`)]);

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
    // The key's own budget within its tenant's period (CONTRACT section 11); null: none.
    maxBudgetMicros: micros('max_budget_micros'),
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
    // A tenant's period (its counters rebuilt, its model budgets', the reset job's old spend) and,
    // since a key's rows are all its tenant's, a key's period too: one index where there were two,
    // a ledger row 1.3-1.7 µs cheaper to write (bench/README.md, "What each change bought").
    index('usage_ledger_tenant_period_key_idx').on(t.tenantId, t.periodStartedAt, t.keyId),
    index('usage_ledger_tenant_created_idx').on(t.tenantId, t.createdAt),
    // Rebuilding the global counter from the ledger (CONTRACT section 11).
    index('usage_ledger_created_idx').on(t.createdAt),
  ],
);

/**
 * Usage events the ledger table refused on their own (a value it cannot hold, an event that is
 * not JSON): kept here as they came, with the reason, so they stall no batch behind them and are
 * not lost either (README, "Reliability"). Keyed by the event's SHA-256, so a batch retried after
 * an outage sets each aside once. The gauge `budget_gateway_ledger_set_aside` counts the rows.
 */
export const usageSetAside = pgTable('usage_set_aside', {
  eventSha256: text('event_sha256').primaryKey(),
  event: text('event').notNull(),
  reason: text('reason').notNull(),
  setAsideAt: time('set_aside_at').notNull().defaultNow(),
});

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
    // 'notify': the operator's webhook and Slack; 'litellm': a key update mirrored onto LiteLLM.
    channel: text('channel', { enum: ['notify', 'litellm'] }).notNull().default('notify'),
    // Sinks that already accepted it (e.g. ['webhook']), so a retry does not send those again.
    deliveredTo: jsonb('delivered_to').$type<string[]>().notNull().default([]),
  },
  (t) => [index('notification_outbox_status_next_idx').on(t.status, t.nextAttemptAt)],
);

/**
 * The system-wide cap (CONTRACT section 11): at most one row, id 'global'. Its own period, on its
 * own grid, like a tenant's.
 */
export const globalBudget = pgTable('global_budget', {
  id: text('id').primaryKey(),
  maxBudgetMicros: micros('max_budget_micros').notNull(),
  alertThreshold: doublePrecision('alert_threshold').notNull().default(80),
  alertThresholds: jsonb('alert_thresholds').$type<number[]>(),
  graceThreshold: doublePrecision('grace_threshold').notNull().default(110),
  budgetDuration: text('budget_duration').notNull().default('1mo'),
  periodStartedAt: time('period_started_at').notNull(),
  budgetResetAt: time('budget_reset_at').notNull(),
  periodAnchorAt: time('period_anchor_at'),
  createdAt: time('created_at').notNull().defaultNow(),
  updatedAt: time('updated_at').notNull().defaultNow(),
});

/** LiteLLM's own budget alerts (CONTRACT section 7), de-duplicated per event and key or team. */
export const litellmAlerts = pgTable(
  'litellm_alerts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    event: text('event').notNull(),
    // The key (token hash) or team the alert is about: with the event, the de-duplication key.
    subject: text('subject').notNull(),
    spendMicros: micros('spend_micros').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    receivedAt: time('received_at').notNull().defaultNow(),
  },
  (t) => [index('litellm_alerts_dedupe_idx').on(t.event, t.subject, t.receivedAt)],
);

/** Which replica runs a scheduled job now: a lease row per job, taken when expired (CONTRACT section 9). */
export const jobLeases = pgTable('job_leases', {
  job: text('job').primaryKey(),
  holder: text('holder').notNull(),
  expiresAt: time('expires_at').notNull(),
});

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
export type LitellmAlert = typeof litellmAlerts.$inferSelect;
export type GlobalBudget = typeof globalBudget.$inferSelect;
