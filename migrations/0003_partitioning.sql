-- Custom migration (drizzle-kit cannot express partitioning): `decisions` becomes a table
-- partitioned by RANGE on "time", one partition per UTC day named decisions_pYYYYMMDD.
-- Existing rows are copied into partitions created for the days they fall on. Verdict creates
-- partitions ahead at start and periodically (verdict_ensure_decision_partitions), and its
-- retention drops whole partitions (src/decisions/partitions.ts).
CREATE EXTENSION IF NOT EXISTS pg_trgm;--> statement-breakpoint
CREATE OR REPLACE FUNCTION verdict_ensure_decision_partitions(from_day date, to_day date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  d date;
  created integer := 0;
BEGIN
  -- Replicas starting together would otherwise race on CREATE TABLE.
  PERFORM pg_advisory_xact_lock(727002);
  FOR d IN SELECT generate_series(from_day, to_day, interval '1 day')::date LOOP
    IF to_regclass(format('decisions_p%s', to_char(d, 'YYYYMMDD'))) IS NULL THEN
      EXECUTE format(
        'CREATE TABLE %I PARTITION OF decisions FOR VALUES FROM (%L) TO (%L)',
        format('decisions_p%s', to_char(d, 'YYYYMMDD')),
        d::text || ' 00:00:00+00',
        (d + 1)::text || ' 00:00:00+00');
      created := created + 1;
    END IF;
  END LOOP;
  RETURN created;
END $$;--> statement-breakpoint
ALTER TABLE "decisions" RENAME TO "decisions_unpartitioned";--> statement-breakpoint
ALTER TABLE "decisions_unpartitioned" RENAME CONSTRAINT "decisions_id_time_pk" TO "decisions_unpartitioned_pk";--> statement-breakpoint
DROP INDEX "decisions_time_idx";--> statement-breakpoint
DROP INDEX "decisions_agent_idx";--> statement-breakpoint
DROP INDEX "decisions_user_idx";--> statement-breakpoint
DROP INDEX "decisions_server_tool_idx";--> statement-breakpoint
DROP INDEX "decisions_decision_idx";--> statement-breakpoint
DROP INDEX "decisions_task_idx";--> statement-breakpoint
DROP INDEX "decisions_reasons_idx";--> statement-breakpoint
DROP INDEX "decisions_stream_idx";--> statement-breakpoint
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
	"identity" jsonb,
	"credential_jti" text,
	CONSTRAINT "decisions_id_time_pk" PRIMARY KEY("id","time")
) PARTITION BY RANGE ("time");--> statement-breakpoint
SELECT verdict_ensure_decision_partitions(d, d)
  FROM (SELECT DISTINCT ("time" AT TIME ZONE 'UTC')::date AS d FROM "decisions_unpartitioned") days;--> statement-breakpoint
SELECT verdict_ensure_decision_partitions((now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + 7);--> statement-breakpoint
INSERT INTO "decisions" SELECT * FROM "decisions_unpartitioned";--> statement-breakpoint
DROP TABLE "decisions_unpartitioned";--> statement-breakpoint
CREATE INDEX "decisions_time_idx" ON "decisions" USING btree ("time" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_agent_idx" ON "decisions" USING btree ("agent","time" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_user_idx" ON "decisions" USING btree ("user_id","time" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_server_tool_idx" ON "decisions" USING btree ("server","tool","time" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_decision_idx" ON "decisions" USING btree ("decision","time" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_task_idx" ON "decisions" USING btree ("task_id","time" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "decisions_reasons_idx" ON "decisions" USING gin ("reasons");--> statement-breakpoint
CREATE INDEX "decisions_stream_idx" ON "decisions" USING btree ("stream","seq");--> statement-breakpoint
-- Argument search (`arg.<path>=<substring>`) prefilters on the arguments' JSON text with this
-- trigram index, then checks the exact path (src/decisions/search.ts).
CREATE INDEX "decisions_arguments_trgm_idx" ON "decisions" USING gin (("arguments"::text) gin_trgm_ops);
