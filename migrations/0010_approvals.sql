CREATE TABLE "approvals" (
	"id" uuid PRIMARY KEY NOT NULL,
	"binding_sha256" text NOT NULL,
	"status" text NOT NULL,
	"groups" text[] NOT NULL,
	"policies" text[] NOT NULL,
	"agent" text NOT NULL,
	"user_id" text,
	"delegation" jsonb NOT NULL,
	"server" text NOT NULL,
	"tool" text NOT NULL,
	"definition_sha256" text NOT NULL,
	"arguments" jsonb,
	"arguments_sha256" text NOT NULL,
	"task" jsonb,
	"task_id" text,
	"policy_set_version" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"decided_at" timestamp with time zone,
	"decided_by" text,
	"comment" text,
	"used_at" timestamp with time zone,
	"used_by" uuid,
	"request_record_id" uuid NOT NULL
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "user_id" text;--> statement-breakpoint
CREATE INDEX "approvals_binding_idx" ON "approvals" USING btree ("binding_sha256","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE UNIQUE INDEX "approvals_pending_binding_idx" ON "approvals" USING btree ("binding_sha256") WHERE "approvals"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "approvals_status_idx" ON "approvals" USING btree ("status","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "approvals_groups_idx" ON "approvals" USING gin ("groups");--> statement-breakpoint
CREATE INDEX "approvals_agent_idx" ON "approvals" USING btree ("agent","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "approvals_user_idx" ON "approvals" USING btree ("user_id","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "approvals_task_idx" ON "approvals" USING btree ("task_id","created_at" DESC NULLS LAST);