/**
 * The decision log's side of task memory (`context.session.history`, src/pdp/history.ts): what a
 * task, an agent and a user were already allowed to do, counted from the committed records, in
 * one statement. Only `tools/call` records whose decision is `allow` count (a deny, a
 * `/v1/authorize` record, an AuthZEN Cedar request do not).
 *
 * Cost: one statement of three index-only lookups on the partial indexes of migration 0008
 * (`decisions_history_task_idx`, `decisions_history_agent_idx`, `decisions_history_user_idx`):
 * the rows read are the rows counted (this task's allowed calls; this agent's, and this user's,
 * allowed calls of this tool in the last hour), never a scan that grows with the log. The table
 * is partitioned by day, so each lookup probes one index per day partition it cannot exclude by
 * time: the task lookup, which has no lower time bound (a task may span days), every kept day up
 * to tomorrow; the hourly ones at most two.
 */
import { sql, type SQL } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { rowsOf } from "./partitions.js";

/** The window of the hourly counts, in ms. */
export const HISTORY_WINDOW_MS = 60 * 60 * 1000;
/**
 * How far after `now` a record's `time` may be and still count, in ms (a replica whose clock
 * runs ahead); also what lets Postgres skip the empty day partitions made ahead of time.
 */
export const SKEW_ALLOWANCE_MS = 60 * 60 * 1000;

/** Whose history to count. */
export interface HistoryKey {
  agent: string;
  /** The delegating user; absent: the user count is 0. */
  user?: string;
  server: string;
  tool: string;
  /** The task id; absent: no task rows (the task fields are empty). */
  taskId?: string;
}

/** The raw counts (see {@link readHistoryCounts}). */
export interface HistoryCounts {
  /**
   * The task's allowed tools/calls by tool (`time` up to `now + 1 h`): `[server, tool, count]`,
   * sorted by server then tool.
   */
  task: Array<[string, string, number]>;
  /**
   * This agent's allowed calls of this tool with `time` in `(now - 1 h, now + 1 h]`, any task
   * (a record with a later `time` than `now`, from a replica whose clock is ahead, counts too).
   */
  agentToolCallsLastHour: number;
  /** This user's, likewise (0 without a user). */
  userToolCallsLastHour: number;
}

/**
 * Counts, in one statement, what the log holds for a tools/call about to be decided: the task's
 * allowed calls by tool, and the agent's and the user's allowed calls of this tool in the hour
 * before `now` (by the records' `time`, the instant each request was received). Sees every
 * record committed before the statement starts, whichever replica wrote it.
 * @param now the instant the request was received
 * @throws the driver's error when the database cannot answer (the caller must not allow then)
 */
export async function readHistoryCounts(db: Db, key: HistoryKey, now: Date): Promise<HistoryCounts> {
  const res = await db.execute(historyStatement(key, now));
  const row = rowsOf<{ task: unknown; agent_hour: number | string; user_hour: number | string }>(res)[0];
  if (!row) throw new Error("the history query returned no row");
  const taskRows = (typeof row.task === "string" ? JSON.parse(row.task) : row.task) as Array<[string, string, number]>;
  return { task: taskRows, agentToolCallsLastHour: Number(row.agent_hour), userToolCallsLastHour: Number(row.user_hour) };
}

/**
 * The one statement {@link readHistoryCounts} sends (one row: `task` JSON, `agent_hour`,
 * `user_hour`); exported for `EXPLAIN` in the benchmark.
 */
export function historyStatement(key: HistoryKey, now: Date): SQL {
  const since = new Date(now.getTime() - HISTORY_WINDOW_MS).toISOString();
  // An upper bound lets Postgres skip the day partitions made ahead of time (maintenance creates
  // the next days'); an hour of allowance keeps a replica whose clock runs ahead counted.
  const until = new Date(now.getTime() + SKEW_ALLOWANCE_MS).toISOString();
  const task = key.taskId ?? null;
  const user = key.user ?? null;
  // Each predicate repeats its partial index's WHERE, so the planner can use it.
  return sql`
    SELECT
      (SELECT coalesce(json_agg(json_build_array(t.server, t.tool, t.n) ORDER BY t.server, t.tool), '[]'::json)
         FROM (SELECT server, tool, count(*)::int AS n FROM decisions
                WHERE task_id = ${task} AND task_id IS NOT NULL AND decision = 'allow' AND kind = 'tools/call'
                  AND time <= ${until}::timestamptz
                GROUP BY server, tool) t) AS task,
      (SELECT count(*)::int FROM decisions
        WHERE agent = ${key.agent} AND server = ${key.server} AND tool = ${key.tool}
          AND decision = 'allow' AND kind = 'tools/call'
          AND time > ${since}::timestamptz AND time <= ${until}::timestamptz) AS agent_hour,
      (SELECT count(*)::int FROM decisions
        WHERE user_id = ${user} AND user_id IS NOT NULL AND server = ${key.server} AND tool = ${key.tool}
          AND decision = 'allow' AND kind = 'tools/call'
          AND time > ${since}::timestamptz AND time <= ${until}::timestamptz) AS user_hour`;
}
