/**
 * The task endpoints (DESIGN.md "Task memory", docs/task-memory.md "Ending a task"):
 *
 * - `POST /v1/tasks/{taskId}/end` (roles `pep`, `admin`), body `{"reason"?: string}` or none:
 *   ends the task ({@link TaskEnds.end}); every later `tools/call` naming it is denied
 *   `verdict:task-ended` on every replica within `TASK_END_PROPAGATION_MS`. 200 with
 *   `TaskEndResponse`; again for an ended task, `alreadyEnded: true`. 503 when the end could not
 *   be recorded (the task is then not ended: retry).
 * - `GET /v1/tasks/{taskId}` (roles `auditor`, `admin`), `?limit=&cursor=`: the task's records
 *   oldest first, its actor chains and totals (`TaskView`); 404 when no record names it.
 */
import { Hono, type Context } from "hono";
import { ID_MAX, isCleanString } from "../contract/limits.js";
import { TASK_ACTORS_MAX, TaskEndRequest, TaskQuery, type TaskView } from "../contract/tasks.js";
import { CursorError, listDecisions } from "../decision-log/query.js";
import { readTaskActors } from "../decision-log/task.js";
import { RecordError } from "../decision-log/writer.js";
import type { AppDeps, AppEnv } from "../http/deps.js";
import { fromZod, VerdictError } from "../http/errors.js";
import { callerOf } from "../http/key-auth.js";
import { readBody } from "../http/validate.js";
import type { TaskEnds } from "./ends.js";

/** The path's task id, bounded as the wire bounds `task.id`. */
function taskIdOf(c: Context<AppEnv>): string {
  const id = c.req.param("taskId") ?? "";
  if (id.length < 1 || id.length > ID_MAX || !isCleanString(id)) {
    throw new VerdictError("bad_request", `task id must be 1 to ${ID_MAX} characters without control characters`);
  }
  return id;
}

/** The task endpoints over `tasks` (the ended tasks) and `deps.database` (the decision log). */
export function taskRoutes(deps: AppDeps, tasks: TaskEnds): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const db = deps.database.db;
  const now = deps.now ?? (() => new Date());

  app.post("/v1/tasks/:taskId/end", async (c) => {
    const taskId = taskIdOf(c);
    const body = await readBody(c, TaskEndRequest, { optional: true });
    const key = c.get("apiKey");
    try {
      const ended = await tasks.end(taskId, {
        caller: key ? callerOf(key) : null,
        requestId: c.get("requestId") ?? null,
        reason: body.reason || undefined,
        policySetVersion: deps.policies.get().version,
        now: now(),
      });
      if (!ended.alreadyEnded) deps.logger.info({ task: taskId, recordId: ended.recordId, caller: ended.endedBy }, "task ended");
      return c.json(ended);
    } catch (e) {
      if (e instanceof RecordError && e.reason === "refused") {
        throw new VerdictError("unrecordable_input", "the database refused this task's end record; the task is not ended", undefined, { cause: e });
      }
      throw new VerdictError("unavailable", "the task's end could not be recorded; the task is not ended, retry", undefined, { cause: e });
    }
  });

  app.get("/v1/tasks/:taskId", async (c) => {
    const taskId = taskIdOf(c);
    const parsed = TaskQuery.safeParse(c.req.query());
    if (!parsed.success) throw fromZod(parsed.error, "query");
    const q = parsed.data;
    let page;
    try {
      page = await listDecisions(db, { task: taskId, args: [], limit: q.limit, cursor: q.cursor }, "oldest");
    } catch (e) {
      if (e instanceof CursorError) throw new VerdictError("bad_request", e.message);
      throw e;
    }
    const [who, ended] = await Promise.all([readTaskActors(db, taskId, TASK_ACTORS_MAX), tasks.endOf(taskId)]);
    if (!page.decisions.length && !q.cursor && !ended && !who.summary) throw new VerdictError("not_found", `no record names task ${JSON.stringify(taskId)}`);
    const view: TaskView = {
      task: { id: taskId, kind: who.kind },
      status: ended ? "ended" : "open",
      ended,
      summary: who.summary ?? { decisions: 0, allowed: 0, denied: 0, first: null, last: null },
      actors: who.actors,
      records: page.decisions,
      nextCursor: page.nextCursor,
    };
    return c.json(view);
  });

  return app;
}
