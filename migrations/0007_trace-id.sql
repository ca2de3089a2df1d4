ALTER TABLE "decisions" ADD COLUMN "trace_id" text;--> statement-breakpoint
CREATE INDEX "decisions_trace_id_idx" ON "decisions" USING btree ("trace_id") WHERE "decisions"."trace_id" IS NOT NULL;