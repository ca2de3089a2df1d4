CREATE TABLE "chain_checkpoints" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"stream" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"hash" text NOT NULL,
	"jwt" text NOT NULL,
	"time" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "streams" ADD COLUMN "pruned_seq" bigint;--> statement-breakpoint
ALTER TABLE "streams" ADD COLUMN "pruned_hash" text;--> statement-breakpoint
CREATE INDEX "chain_checkpoints_stream_idx" ON "chain_checkpoints" USING btree ("stream","seq" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_tool_idx" ON "decisions" USING btree ("tool","time" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_caller_idx" ON "decisions" USING btree ("caller","time" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_request_id_idx" ON "decisions" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "decisions_policy_set_version_idx" ON "decisions" USING btree ("policy_set_version","time" DESC NULLS LAST);