DROP INDEX "usage_ledger_tenant_period_idx";--> statement-breakpoint
DROP INDEX "usage_ledger_key_period_idx";--> statement-breakpoint
CREATE INDEX "usage_ledger_tenant_period_key_idx" ON "usage_ledger" USING btree ("tenant_id","period_started_at","key_id");