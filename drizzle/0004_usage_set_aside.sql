CREATE TABLE "usage_set_aside" (
	"event_sha256" text PRIMARY KEY NOT NULL,
	"event" text NOT NULL,
	"reason" text NOT NULL,
	"set_aside_at" timestamp with time zone DEFAULT now() NOT NULL
);
