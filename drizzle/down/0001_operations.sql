-- Reverts 0001_operations.sql: the job lease and LiteLLM alert tables, the outbox's channel and
-- delivery columns, and the tenants' period anchor and due index.
DROP INDEX "tenants_due_idx";
--> statement-breakpoint
ALTER TABLE "tenants" DROP COLUMN "period_anchor_at";
--> statement-breakpoint
ALTER TABLE "notification_outbox" DROP COLUMN "delivered_to";
--> statement-breakpoint
ALTER TABLE "notification_outbox" DROP COLUMN "channel";
--> statement-breakpoint
DROP TABLE "litellm_alerts";
--> statement-breakpoint
DROP TABLE "job_leases";
