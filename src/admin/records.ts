import { microsToUsd } from '../budget/money.js';
import { listAudit } from '../db/audit.js';
import { listLedgerRows } from '../db/ledger.js';
import type { AdminContext } from './context.js';
import { requireTenant } from './tenants.js';

/** Read-only views of the ledger and the audit log (CONTRACT section 6). */

export async function tenantUsage(
  ctx: AdminContext,
  tenantId: string,
  query: { from?: string | undefined; to?: string | undefined; limit: number },
): Promise<{ data: Record<string, unknown>[] }> {
  await requireTenant(ctx, tenantId);
  const rows = await listLedgerRows(ctx.db, tenantId, {
    from: query.from === undefined ? undefined : new Date(query.from),
    to: query.to === undefined ? undefined : new Date(query.to),
    limit: query.limit,
  });
  return {
    data: rows.map((row) => ({
      request_id: row.requestId,
      client_request_id: row.clientRequestId,
      tenant_id: row.tenantId,
      key_id: row.keyId,
      model: row.model,
      endpoint: row.endpoint,
      status: row.status,
      prompt_tokens: row.promptTokens,
      completion_tokens: row.completionTokens,
      cost: microsToUsd(row.costMicros),
      cost_source: row.costSource,
      period_started_at: row.periodStartedAt.toISOString(),
      created_at: row.createdAt.toISOString(),
    })),
  };
}

export async function auditFeed(
  ctx: AdminContext,
  query: { tenant_id?: string | undefined; event?: string | undefined; limit: number },
): Promise<{ data: Record<string, unknown>[] }> {
  const entries = await listAudit(ctx.db, { tenantId: query.tenant_id, event: query.event, limit: query.limit });
  return {
    data: entries.map((entry) => ({
      id: entry.id,
      at: entry.at.toISOString(),
      tenant_id: entry.tenantId,
      event: entry.event,
      actor: entry.actor,
      details: entry.details,
    })),
  };
}
