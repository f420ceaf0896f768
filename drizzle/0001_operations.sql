CREATE TABLE "job_leases" (
	"job" text PRIMARY KEY NOT NULL,
	"holder" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "litellm_alerts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"event" text NOT NULL,
	"subject" text NOT NULL,
	"spend_micros" bigint NOT NULL,
	"payload" jsonb NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "notification_outbox" ADD COLUMN "channel" text DEFAULT 'notify' NOT NULL;--> statement-breakpoint
ALTER TABLE "notification_outbox" ADD COLUMN "delivered_to" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "period_anchor_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "litellm_alerts_dedupe_idx" ON "litellm_alerts" USING btree ("event","subject","received_at");--> statement-breakpoint
CREATE INDEX "tenants_due_idx" ON "tenants" USING btree ("budget_reset_at") WHERE deleted_at is null;