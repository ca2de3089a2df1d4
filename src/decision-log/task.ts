/**
 * The decision log's side of the auditor's task view (`GET /v1/tasks/{taskId}`,
 * src/tasks/routes.ts): who worked on a task, and how much, from its `tools/call` records. One
 * statement over the task index (`decisions_task_idx`); the page of the task's records themselves
 * is `listDecisions(db, { task }, "oldest")` (`./query.ts`).
 */
import { sql } from "drizzle-orm";
import type { DelegationActor } from "../contract/decision-log.js";
import type { Db } from "../db/client.js";
import { rowsOf } from "./partitions.js";

/** One chain of actors of a task (agent, user, delegation) and its decisions. */
export interface TaskActorRow {
  agent: string;
  user: string | null;
  delegation: DelegationActor[];
  decisions: number;
  allowed: number;
  denied: number;
  /** ISO 8601. */
  first: string;
  last: string;
}

/** What {@link readTaskActors} gives: the actor chains, the task's totals and its first recorded kind. */
export interface TaskActors {
  /** Over every `tools/call` record of the task (null: it has none). */
  summary: { decisions: number; allowed: number; denied: number; first: string; last: string } | null;
  /** Earliest first, at most the `limit` asked for. */
  actors: TaskActorRow[];
  /** The `task.kind` of the task's first `tools/call` record that named one, or null. */
  kind: string | null;
}

/**
 * The actor chains of a task's `tools/call` records (grouped by agent, user and delegation
 * chain), earliest first, and the task's kind.
 * @param limit the most chains returned
 * @throws the driver's error when the database cannot answer
 */
export async function readTaskActors(db: Db, taskId: string, limit: number): Promise<TaskActors> {
  const res = await db.execute(sql`
    SELECT
      (SELECT coalesce(json_agg(a ORDER BY a.first, a.agent), '[]'::json) FROM (
         SELECT agent, user_id AS "user", delegation, count(*)::int AS decisions,
                (count(*) FILTER (WHERE decision = 'allow'))::int AS allowed,
                (count(*) FILTER (WHERE decision = 'deny'))::int AS denied,
                min(time) AS first, max(time) AS last
           FROM decisions WHERE task_id = ${taskId} AND kind = 'tools/call'
          GROUP BY agent, user_id, delegation
          ORDER BY min(time), agent
          LIMIT ${limit}) a) AS actors,
      (SELECT json_build_object('decisions', count(*)::int,
                                'allowed', (count(*) FILTER (WHERE decision = 'allow'))::int,
                                'denied', (count(*) FILTER (WHERE decision = 'deny'))::int,
                                'first', min(time), 'last', max(time))
         FROM decisions WHERE task_id = ${taskId} AND kind = 'tools/call') AS summary,
      (SELECT task->>'kind' FROM decisions
        WHERE task_id = ${taskId} AND kind = 'tools/call' AND task ? 'kind'
        ORDER BY time ASC NULLS FIRST, id ASC LIMIT 1) AS kind`);
  const row = rowsOf<{ actors: unknown; summary: unknown; kind: string | null }>(res)[0];
  const summary = (typeof row?.summary === "string" ? JSON.parse(row.summary) : row?.summary) as
    | { decisions: number; allowed: number; denied: number; first: string | null; last: string | null }
    | undefined;
  const raw = (typeof row?.actors === "string" ? JSON.parse(row.actors) : (row?.actors ?? [])) as Array<Omit<TaskActorRow, "first" | "last"> & { first: string; last: string }>;
  return {
    summary:
      summary && summary.decisions > 0
        ? { ...summary, first: new Date(summary.first!).toISOString(), last: new Date(summary.last!).toISOString() }
        : null,
    actors: raw.map((a) => ({ ...a, first: new Date(a.first).toISOString(), last: new Date(a.last).toISOString() })),
    kind: row?.kind ?? null,
  };
}
