/**
 * `verdict-mcp --end-task-on-exit`: when an MCP session is over, end through Verdict
 * (`POST /v1/tasks/{taskId}/end`) every task the session named to it, so that no later call can
 * reuse them (DESIGN.md "Task memory": revoke when the task completes). Bounded in time: a
 * gateway that cannot reach Verdict still exits, and says which tasks it left open.
 */
import type { Logger } from "pino";
import type { Task, VerdictClient } from "@verdict/sdk";

/**
 * The most time, in ms, a session's end waits for its tasks to be ended. Below 4 s: the MCP SDK's
 * stdio client closes the server's stdin, sends SIGTERM 2 s later and SIGKILL 2 s after that.
 */
export const END_TASKS_TIMEOUT_MS = 3_000;

/** The most task ids one session remembers; later ones are logged and not ended. */
export const MAX_SESSION_TASKS = 1_000;

/** How many end requests are in flight at once. */
const CONCURRENCY = 8;

/** The `reason` recorded in each `task/end` record. */
export const END_TASK_REASON = "the MCP session closed (verdict-mcp --end-task-on-exit)";

/** What became of a session's tasks: ended now or before, refused or unreachable, or not done in time. */
export interface EndedTasks {
  ended: string[];
  failed: string[];
  unfinished: string[];
}

/** The task ids one session named to Verdict, in the order first named, at most `MAX_SESSION_TASKS`. */
export class SessionTasks {
  readonly #ids = new Set<string>();
  readonly #logger: Logger;
  #overflowed = false;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Remembers a task (for `GuardOptions.onTask`). */
  add(task: Task): void {
    if (this.#ids.has(task.id)) return;
    if (this.#ids.size < MAX_SESSION_TASKS) {
      this.#ids.add(task.id);
      return;
    }
    if (!this.#overflowed) this.#logger.warn({ task: task.id, max: MAX_SESSION_TASKS }, "this session named too many tasks: later ones will not be ended on exit");
    this.#overflowed = true;
  }

  /** The remembered ids, in the order first named. */
  get ids(): string[] {
    return [...this.#ids];
  }
}

/**
 * Ends each task (`VerdictClient.endTask`, at most `CONCURRENCY` at a time), logging on `logger`
 * each one ended (info) or not (warn). Never rejects, and resolves within `timeoutMs` (plus a
 * tick) whatever Verdict does: the requests still open then are left to their own timeout.
 */
export async function endTasks(verdict: VerdictClient, taskIds: string[], logger: Logger, timeoutMs = END_TASKS_TIMEOUT_MS): Promise<EndedTasks> {
  const outcome: EndedTasks = { ended: [], failed: [], unfinished: [] };
  if (taskIds.length === 0) return outcome;
  const pending = new Set(taskIds);
  const queue = [...taskIds];
  const worker = async (): Promise<void> => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      // A transport of one's own may throw, though it should not: that task is not ended, the others still are.
      const result = await verdict.endTask(id, { reason: END_TASK_REASON }).catch((e: unknown) => ({ cause: { kind: "network", message: String(e) } }) as const);
      if (!pending.delete(id)) return;
      if (result.cause) {
        outcome.failed.push(id);
        logger.warn({ task: id, cause: result.cause }, "cannot end task");
      } else {
        outcome.ended.push(id);
        logger.info({ task: id, recordId: result.recordId, endedAt: result.endedAt, alreadyEnded: result.alreadyEnded }, "task ended");
      }
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  const workers = Array.from({ length: Math.min(CONCURRENCY, taskIds.length) }, worker);
  await Promise.race([Promise.all(workers), timeout]);
  clearTimeout(timer);
  if (pending.size) {
    outcome.unfinished = [...pending];
    // Cleared so that late answers are neither counted nor logged as if in time.
    pending.clear();
    queue.length = 0;
    logger.warn({ tasks: outcome.unfinished, timeoutMs }, "tasks not ended in time; they stay open");
  }
  return outcome;
}
