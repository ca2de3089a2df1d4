CREATE TABLE "policy_set_activations" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"version" text NOT NULL,
	"activated_at" timestamp with time zone NOT NULL,
	"activated_by" text,
	"reason" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "policy_set_versions" (
	"version" text PRIMARY KEY NOT NULL,
	"sources" jsonb NOT NULL,
	"published_at" timestamp with time zone NOT NULL,
	"published_by" text,
	"parent" text,
	"message" text
);
--> statement-breakpoint
CREATE TABLE "tool_drift" (
	"server" text NOT NULL,
	"tool" text NOT NULL,
	"pinned_hash" text NOT NULL,
	"reported_hash" text NOT NULL,
	"reported" jsonb NOT NULL,
	"policy_set_version" text NOT NULL,
	"first_seen_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	"first_agent" text NOT NULL,
	"seen" integer DEFAULT 1 NOT NULL,
	CONSTRAINT "tool_drift_server_tool_pinned_hash_reported_hash_pk" PRIMARY KEY("server","tool","pinned_hash","reported_hash")
);
--> statement-breakpoint
ALTER TABLE "policy_set_activations" ADD CONSTRAINT "policy_set_activations_version_policy_set_versions_version_fk" FOREIGN KEY ("version") REFERENCES "public"."policy_set_versions"("version") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "policy_set_versions_published_idx" ON "policy_set_versions" USING btree ("published_at" DESC NULLS LAST);