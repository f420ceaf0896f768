-- Reverts 0002_budget_scopes.sql: the global budget, the per-key budget, the tenants' scope
-- columns and the ledger indexes used to rebuild key and global counters.
DROP INDEX "usage_ledger_created_idx";
--> statement-breakpoint
DROP INDEX "usage_ledger_key_period_idx";
--> statement-breakpoint
ALTER TABLE "tenants" DROP COLUMN "alert_thresholds";
--> statement-breakpoint
ALTER TABLE "tenants" DROP COLUMN "max_requests";
--> statement-breakpoint
ALTER TABLE "tenants" DROP COLUMN "max_tokens";
--> statement-breakpoint
ALTER TABLE "tenants" DROP COLUMN "model_budgets";
--> statement-breakpoint
ALTER TABLE "api_keys" DROP COLUMN "max_budget_micros";
--> statement-breakpoint
DROP TABLE "global_budget";
