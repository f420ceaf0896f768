-- Reverts 0000_init.sql: drops every table it created (their indexes, constraints and the
-- audit_log identity sequence go with them). api_keys references tenants, so it goes first.
DROP TABLE "api_keys";
--> statement-breakpoint
DROP TABLE "tenants";
--> statement-breakpoint
DROP TABLE "usage_ledger";
--> statement-breakpoint
DROP TABLE "budget_overrides";
--> statement-breakpoint
DROP TABLE "audit_log";
--> statement-breakpoint
DROP TABLE "alert_history";
--> statement-breakpoint
DROP TABLE "notification_outbox";
