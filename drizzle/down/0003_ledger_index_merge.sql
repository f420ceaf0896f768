-- Reverts 0003_ledger_index_merge.sql: the tenant-period and key-period ledger indexes come back
-- in place of the one on (tenant_id, period_started_at, key_id).
CREATE INDEX "usage_ledger_tenant_period_idx" ON "usage_ledger" USING btree ("tenant_id","period_started_at");
--> statement-breakpoint
CREATE INDEX "usage_ledger_key_period_idx" ON "usage_ledger" USING btree ("key_id","period_started_at");
--> statement-breakpoint
DROP INDEX "usage_ledger_tenant_period_key_idx";
