import { createHash } from 'node:crypto';
import { and, desc, eq, getTableName, gte, inArray, lt, sql, type SQL } from 'drizzle-orm';
import type { Period } from '../budget/period.js';
import type { LedgerScope, Unit } from '../budget/scopes.js';
import type { Database, Db } from './client.js';
import { storableText, USAGE_EVENT_COLUMNS } from '../ledger/usage-event.js';
import type { CopyColumn, CopyType } from './copy-binary.js';
import { isUniqueViolation } from './errors.js';
import { prepared } from './prepared.js';
import { usageLedger, usageSetAside, type LedgerRow } from './schema.js';

/**
 * The usage ledger: one row per request the upstream served, keyed by the gateway's request id,
 * so a usage event written twice (a replay after a crash, a redelivered stream entry) counts once.
 * Spend counters in the store can be rebuilt from it.
 */

export type { LedgerRow };

export interface PeriodSpend {
  readonly costMicros: number;
  readonly requests: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/** The type of each column a batch fills (PostgreSQL's names for them, as in the schema). */
const EVENT_COLUMN_TYPES: Record<(typeof USAGE_EVENT_COLUMNS)[number], CopyType> = {
  request_id: 'uuid',
  client_request_id: 'text',
  tenant_id: 'text',
  key_id: 'text',
  model: 'text',
  endpoint: 'text',
  status: 'int4',
  prompt_tokens: 'int4',
  completion_tokens: 'int4',
  cost_micros: 'int8',
  cost_source: 'text',
  period_started_at: 'timestamptz',
  created_at: 'timestamptz',
};

/** The columns a batch fills, by the names the events use (see `USAGE_EVENT_COLUMNS`), with their types. */
const EVENT_COLUMNS: readonly CopyColumn[] = USAGE_EVENT_COLUMNS.map((name) => ({ name, type: EVENT_COLUMN_TYPES[name] }));
const EVENT_COLUMN_LIST = sql.raw(USAGE_EVENT_COLUMNS.join(', '));
const EVENT_RECORD = sql.raw(EVENT_COLUMNS.map((c) => `${c.name} ${c.type}`).join(', '));

/**
 * The events as rows. The events, as the gateway encoded them (JSON objects keyed by column
 * name), go in as one JSON array parameter that PostgreSQL expands itself: a batch is neither
 * decoded nor turned into thousands of parameters in JavaScript, and no batch is too large for one
 * statement. `json`, not `jsonb`: the text is read once, row by row, instead of being converted
 * whole first (a fifth less per row, on PGlite and on PostgreSQL alike).
 */
function eventRows(events: readonly string[]): SQL {
  return sql`select ${EVENT_COLUMN_LIST} from json_to_recordset(${`[${events.join(',')}]`}::json) as e(${EVENT_RECORD})`;
}

/** Inserts the usage events not already in the ledger; returns how many were new. */
export async function insertLedgerEvents(db: Db, events: readonly string[]): Promise<number> {
  if (events.length === 0) return 0;
  const [inserted] = await rowsOf<{ count: number | string }>(
    db,
    sql`with inserted as (
      insert into ${usageLedger} (${EVENT_COLUMN_LIST})
      ${eventRows(events)}
      on conflict (request_id) do nothing
      returning 1
    )
    select count(*) as count from inserted`,
  );
  return Number(inserted?.count ?? 0);
}

/**
 * What the ledger pipelines call. A batch almost never holds a request id the ledger already
 * has (only a replay does: a crash, a redelivered stream entry), so it first goes in as if all
 * were new, with COPY in binary format (`Database.copyJson`): no conflict check, no text for
 * PostgreSQL to parse (on PostgreSQL 16 µs of the server's CPU per row as an INSERT reading JSON,
 * 10 with COPY; bench/README.md, "What each change bought"). A batch that does hold a known id
 * fails whole on the unique key and is written again with `insertLedgerEvents`, which skips that
 * row: a request still counts once, and the count returned is still of new rows.
 */
export async function writeLedgerEvents(database: Pick<Database, 'db' | 'copyJson'>, events: readonly string[]): Promise<number> {
  if (events.length === 0) return 0;
  try {
    return await database.copyJson(getTableName(usageLedger), EVENT_COLUMNS, events);
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    return insertLedgerEvents(database.db, events);
  }
}

/** A usage event the ledger table refused on its own, and why (see `usageSetAside`). */
export interface RefusedEvent {
  readonly event: string;
  readonly reason: string;
}

/**
 * Keeps refused events in `usage_set_aside`, each once (by its SHA-256: a batch retried after an
 * outage sets the same event aside again). Their text is kept as it came, but for what no text
 * column holds (NUL, lone surrogates: U+FFFD instead).
 */
export async function setAsideEvents(db: Db, refused: readonly RefusedEvent[]): Promise<void> {
  if (refused.length === 0) return;
  const rows = refused.map(({ event, reason }) => ({
    eventSha256: createHash('sha256').update(event).digest('hex'),
    event: storableText(event),
    reason: storableText(reason),
  }));
  await db.insert(usageSetAside).values(rows).onConflictDoNothing();
}

/** Events set aside and not yet dealt with by an operator (the gauge `budget_gateway_ledger_set_aside`). */
export async function countSetAside(db: Db): Promise<number> {
  const [row] = await db.select({ count: sql`count(*)`.mapWith(Number) }).from(usageSetAside);
  return row?.count ?? 0;
}

/** Rows of a raw query: postgres-js answers an array, PGlite an object with `rows`. */
async function rowsOf<T>(db: Db, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown;
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** What the tenant's period starting at `periodStartedAt` has cost so far, by the ledger. */
export async function periodSpend(db: Db, tenantId: string, periodStartedAt: Date): Promise<PeriodSpend> {
  // sum() of bigint is numeric and count() is bigint: both arrive as strings from the drivers.
  const [totals] = await db
    .select({
      costMicros: sql`coalesce(sum(${usageLedger.costMicros}), 0)`.mapWith(Number),
      requests: sql`count(*)`.mapWith(Number),
      promptTokens: sql`coalesce(sum(${usageLedger.promptTokens}), 0)`.mapWith(Number),
      completionTokens: sql`coalesce(sum(${usageLedger.completionTokens}), 0)`.mapWith(Number),
    })
    .from(usageLedger)
    .where(and(eq(usageLedger.tenantId, tenantId), eq(usageLedger.periodStartedAt, periodStartedAt)));
  return totals!;
}

/** A tenant's ledger rows, newest first, optionally within [from, to). */
export async function listLedgerRows(
  db: Db,
  tenantId: string,
  range: { from?: Date | undefined; to?: Date | undefined; limit: number },
): Promise<LedgerRow[]> {
  return db
    .select()
    .from(usageLedger)
    .where(
      and(
        eq(usageLedger.tenantId, tenantId),
        range.from === undefined ? undefined : gte(usageLedger.createdAt, range.from),
        range.to === undefined ? undefined : lt(usageLedger.createdAt, range.to),
      ),
    )
    .orderBy(desc(usageLedger.createdAt), desc(usageLedger.requestId))
    .limit(range.limit);
}

/**
 * What each of many (tenant, period) pairs cost, by the ledger, in one grouped query (the pairs go
 * in as one JSON parameter); pairs without rows are left out.
 */
export async function periodSpends(
  db: Db,
  periods: readonly { readonly tenantId: string; readonly periodStartedAt: Date }[],
): Promise<{ tenantId: string; periodStartedAt: Date; costMicros: number }[]> {
  if (periods.length === 0) return [];
  const pairs = JSON.stringify(periods.map((p) => ({ tenant_id: p.tenantId, period_started_at: p.periodStartedAt.toISOString() })));
  return db
    .select({
      tenantId: usageLedger.tenantId,
      periodStartedAt: usageLedger.periodStartedAt,
      costMicros: sql`sum(${usageLedger.costMicros})`.mapWith(Number),
    })
    .from(usageLedger)
    .where(
      sql`(${usageLedger.tenantId}, ${usageLedger.periodStartedAt}) in (select tenant_id, period_started_at
        from jsonb_to_recordset(${pairs}::jsonb) as p(tenant_id text, period_started_at timestamptz))`,
    )
    .groupBy(usageLedger.tenantId, usageLedger.periodStartedAt);
}

/**
 * What the ledger holds for one budget's period, in its unit (micro-dollars, tokens or
 * requests): the seed of a bucket the store has lost. Tenant, model and key budgets share the
 * tenant's period, kept on each row; the global cap has its own, so it counts rows by time.
 */
export async function ledgerTotal(db: Db, scope: LedgerScope, unit: Unit, period: Period): Promise<number> {
  return (await ledgerSeed(db, scope, unit, period)).total;
}

export interface LedgerSeed {
  readonly total: number;
  /**
   * The snapshot the total was read in (`pg_current_snapshot()`, see src/db/snapshot.ts): which
   * ledger rows it holds, for usage that may have reached the ledger only after it.
   */
  readonly snapshot: string;
}

/** `ledgerTotal`, and the snapshot it was read in. */
export async function ledgerSeed(db: Db, scope: LedgerScope, unit: Unit, period: Period): Promise<LedgerSeed> {
  const name = `ledger_total_${scope.kind}_${unit}`;
  const [row] = await prepared(db, name, () => ledgerTotalQuery(db, scope.kind, unit).prepare(name)).execute({
    ...scope,
    start: new Date(period.startMs).toISOString(),
    end: new Date(period.endMs).toISOString(),
  });
  return { total: row?.total ?? 0, snapshot: row!.snapshot };
}

/**
 * The query behind `ledgerTotal`, its values left as placeholders named after the scope's fields
 * and `start`, `end` (tests read its plan: each scope's rows must be found by an index). The
 * snapshot is the statement's own, the one its sum saw.
 */
export function ledgerTotalQuery(db: Db, kind: LedgerScope['kind'], unit: Unit) {
  return db.select({ total: TOTALS[unit], snapshot: sql<string>`pg_current_snapshot()::text` }).from(usageLedger).where(ROWS_OF[kind]);
}

/**
 * Which transaction wrote each of these requests' ledger rows (its 32-bit id, `xmin`), for those
 * the ledger holds: with `seenInSnapshot`, whether a total read in some snapshot counted them.
 */
export async function ledgerWriters(db: Db, requestIds: readonly string[]): Promise<Map<string, string>> {
  if (requestIds.length === 0) return new Map();
  const rows = await db
    .select({ requestId: usageLedger.requestId, xmin: sql<string>`xmin::text` })
    .from(usageLedger)
    .where(inArray(usageLedger.requestId, [...requestIds]));
  return new Map(rows.map((r) => [r.requestId, r.xmin]));
}

const TOTALS: Record<Unit, SQL<number>> = {
  usd: sql`coalesce(sum(${usageLedger.costMicros}), 0)`.mapWith(Number),
  tokens: sql`coalesce(sum(${usageLedger.promptTokens} + ${usageLedger.completionTokens}), 0)`.mapWith(Number),
  requests: sql`count(*)`.mapWith(Number),
};

/** A scope's rows in the period starting at `start` (the global cap's: created in [start, end)). */
const ROWS_OF: Record<LedgerScope['kind'], SQL | undefined> = {
  global: and(gte(usageLedger.createdAt, sql.placeholder('start')), lt(usageLedger.createdAt, sql.placeholder('end'))),
  // A key's rows are all its tenant's: the tenant and period lead, so the key's rows are found
  // by the index on (tenant_id, period_started_at, key_id), the ledger's one index for periods.
  key: and(
    eq(usageLedger.tenantId, sql.placeholder('tenantId')),
    eq(usageLedger.periodStartedAt, sql.placeholder('start')),
    eq(usageLedger.keyId, sql.placeholder('keyId')),
  ),
  tenant: and(eq(usageLedger.tenantId, sql.placeholder('tenantId')), eq(usageLedger.periodStartedAt, sql.placeholder('start'))),
  model: and(
    eq(usageLedger.tenantId, sql.placeholder('tenantId')),
    eq(usageLedger.periodStartedAt, sql.placeholder('start')),
    eq(usageLedger.model, sql.placeholder('model')),
  ),
};
