CREATE TABLE "decisions" (
	"id" uuid NOT NULL,
	"time" timestamp with time zone NOT NULL,
	"kind" text NOT NULL,
	"agent" text NOT NULL,
	"user_id" text,
	"delegation" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"server" text NOT NULL,
	"tool" text NOT NULL,
	"action" text NOT NULL,
	"arguments" jsonb,
	"arguments_sha256" text NOT NULL,
	"task" jsonb,
	"task_id" text,
	"decision" text NOT NULL,
	"reasons" text[] NOT NULL,
	"errors" jsonb NOT NULL,
	"obligations" jsonb NOT NULL,
	"message" text,
	"policy_set_version" text NOT NULL,
	"caller" text,
	"request_id" text,
	"evaluation_micros" integer NOT NULL,
	"request" jsonb NOT NULL,
	"stream" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"prev_hash" text,
	"hash" text NOT NULL,
	CONSTRAINT "decisions_id_time_pk" PRIMARY KEY("id","time")
);
--> statement-breakpoint
CREATE TABLE "streams" (
	"id" uuid PRIMARY KEY NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"host" text NOT NULL,
	"pid" integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX "decisions_time_idx" ON "decisions" USING btree ("time" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_agent_idx" ON "decisions" USING btree ("agent","time" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_user_idx" ON "decisions" USING btree ("user_id","time" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_server_tool_idx" ON "decisions" USING btree ("server","tool","time" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_decision_idx" ON "decisions" USING btree ("decision","time" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_task_idx" ON "decisions" USING btree ("task_id","time" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_reasons_idx" ON "decisions" USING gin ("reasons");--> statement-breakpoint
CREATE INDEX "decisions_stream_idx" ON "decisions" USING btree ("stream","seq");