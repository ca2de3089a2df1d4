CREATE TABLE "ended_tasks" (
	"task_id" text PRIMARY KEY NOT NULL,
	"ended_at" timestamp with time zone NOT NULL,
	"record_id" uuid NOT NULL,
	"ended_by" text
);
