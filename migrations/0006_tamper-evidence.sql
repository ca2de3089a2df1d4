-- Tamper evidence (docs/tamper-evidence.md). Rows written before this migration keep version 1
-- (their hash, their stream's unsigned retention); Verdict writes version 2 from now on.
-- chain_checkpoints loses its surrogate id: (stream, kind, seq) names a checkpoint, and every
-- remaining column is also inside the signed JWT.
ALTER TABLE "decisions" ADD COLUMN "hash_version" smallint DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "streams" ADD COLUMN "chain_version" smallint DEFAULT 1 NOT NULL;--> statement-breakpoint
DROP INDEX "chain_checkpoints_stream_idx";--> statement-breakpoint
DELETE FROM "chain_checkpoints" a USING "chain_checkpoints" b WHERE a."stream" = b."stream" AND a."seq" = b."seq" AND a."id" > b."id";--> statement-breakpoint
ALTER TABLE "chain_checkpoints" DROP COLUMN "id";--> statement-breakpoint
ALTER TABLE "chain_checkpoints" ADD COLUMN "kind" text DEFAULT 'head' NOT NULL;--> statement-breakpoint
ALTER TABLE "chain_checkpoints" ADD CONSTRAINT "chain_checkpoints_stream_kind_seq_pk" PRIMARY KEY("stream","kind","seq");
