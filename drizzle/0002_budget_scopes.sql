CREATE TABLE "global_budget" (
	"id" text PRIMARY KEY NOT NULL,
	"max_budget_micros" bigint NOT NULL,
	"alert_threshold" double precision DEFAULT 80 NOT NULL,
	"alert_thresholds" jsonb,
	"grace_threshold" double precision DEFAULT 110 NOT NULL,
	"budget_duration" text DEFAULT '1mo' NOT NULL,
	"period_started_at" timestamp with time zone NOT NULL,
	"budget_reset_at" timestamp with time zone NOT NULL,
	"period_anchor_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "max_budget_micros" bigint;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "model_budgets" jsonb;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "max_tokens" bigint;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "max_requests" bigint;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "alert_thresholds" jsonb;--> statement-breakpoint
CREATE INDEX "usage_ledger_key_period_idx" ON "usage_ledger" USING btree ("key_id","period_started_at");--> statement-breakpoint
CREATE INDEX "usage_ledger_created_idx" ON "usage_ledger" USING btree ("created_at");