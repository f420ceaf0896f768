import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import type { Db } from '../../src/db/client.js';
import { rowsOf } from './databases.js';
import type { TestGateway, TestTenant } from './gateway.js';

/** Cron strings that do not fire while a test runs: the tests run the jobs themselves, at their clock. */
export const JOBS_BY_HAND = { RESET_CRON: '0 0 1 1 *', OVERRIDE_EXPIRY_CRON: '0 0 1 1 *' };

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };

export interface ChatAnswer {
  readonly status: number;
  readonly headers: Headers;
}

/** One chat completion through the OpenAI SDK; a refusal (402) is an answer too, not a failure. */
export async function chat(gateway: TestGateway, tenant: TestTenant): Promise<ChatAnswer> {
  try {
    const { response } = await gateway.client({ apiKey: tenant.key }).chat.completions.create(CHAT).withResponse();
    return { status: response.status, headers: response.headers };
  } catch (err) {
    const refused = err as { status?: number; headers?: Headers };
    if (refused.status === undefined || refused.headers === undefined) throw err;
    return { status: refused.status, headers: refused.headers };
  }
}

/**
 * A streamed chat the upstream paces slowly, already answering (its first chunk read) and still in
 * flight when this resolves; `finish` reads the rest.
 */
export async function streamInFlight(gateway: TestGateway, tenant: TestTenant): Promise<{ requestId: string; finish(): Promise<void> }> {
  const { data: stream, response } = await gateway
    .client({ apiKey: tenant.key })
    .chat.completions.create({ ...CHAT, stream: true }, { headers: { 'x-sim-chunk-delay-ms': '200', 'x-sim-chunks': '5' } })
    .withResponse();
  const chunks = stream[Symbol.asyncIterator]();
  expect((await chunks.next()).done).toBe(false);
  return {
    requestId: response.headers.get('x-request-id')!,
    async finish() {
      while (!(await chunks.next()).done);
    },
  };
}

/**
 * `count` tenants `<prefix>-<n>` with a $100 budget, in one statement, as an operator's fleet
 * would stand after an import; their period [startedAt, resetAt) on a daily grid.
 */
export async function insertTenants(db: Db, prefix: string, count: number, startedAt: Date, resetAt: Date): Promise<void> {
  await db.execute(sql`insert into tenants (tenant_id, max_budget_micros, budget_duration, period_started_at, budget_reset_at, period_anchor_at)
    select ${prefix} || '-' || n, 100000000, '1d', ${startedAt.toISOString()}::timestamptz, ${resetAt.toISOString()}::timestamptz,
      ${resetAt.toISOString()}::timestamptz
    from generate_series(1, ${count}::int) as n`);
}

/** How many rows of `table` belong to tenants `<prefix>-*` (and match `where`). */
export async function countRows(db: Db, table: 'tenants' | 'audit_log' | 'notification_outbox', prefix: string, where = sql`true`): Promise<number> {
  const [row] = await rowsOf<{ n: number }>(
    db,
    sql`select count(*)::int as n from ${sql.identifier(table)} where tenant_id like ${`${prefix}-%`} and ${where}`,
  );
  return row!.n;
}
