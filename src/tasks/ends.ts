/**
 * The end of a task (DESIGN.md "Task memory": "revoke when the task completes"):
 * `POST /v1/tasks/{taskId}/end` ends a task, and every later `tools/call` naming it is denied with
 * `verdict:task-ended`, on every replica.
 *
 * - **The fact is a record.** Ending appends a `task/end` record to the decision log, so the end
 *   is in the hash chain like every decision (`verdict audit verify` covers it). Once that record
 *   committed, a row of `ended_tasks` is written: the table every replica looks tasks up in
 *   (retention may drop the record's partition; the row stays). A crash between the two leaves a
 *   record without a row: the caller got no answer, and ending again writes the row.
 * - **Seen by every replica within {@link TASK_END_PROPAGATION_MS}.** A replica asks the database
 *   whether a task ended, and keeps the answer: "ended" for good (an end is never undone), "not
 *   ended" for at most {@link NOT_ENDED_TTL_MS}, measured from the start of the lookup that said
 *   so. So a call received more than that after an end was answered is denied wherever it lands,
 *   and a busy task costs one primary-key lookup per replica per {@link NOT_ENDED_TTL_MS}, not
 *   one per call.
 * - **Fail closed.** A lookup the database cannot answer throws; the decision is then not made
 *   (503), never allowed.
 */
import { eq } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import { v7 as uuidv7 } from "uuid";
import { canonicalSha256 } from "../contract/canonical.js";
import { TASK_END_PROPAGATION_MS, type TaskEndResponse } from "../contract/tasks.js";
import { REASONS } from "../contract/reasons.js";
import type { Db } from "../db/client.js";
import { endedTasks } from "../db/schema.js";
import { eventRecord, type UnchainedRecord } from "../decision-log/record.js";
import type { DecisionLog } from "../decision-log/writer.js";

export { TASK_END_PROPAGATION_MS };

/**
 * How long, in ms, a replica trusts a "not ended" answer (from the start of the lookup): half of
 * {@link TASK_END_PROPAGATION_MS}, so the bound holds with room for a slow lookup.
 */
export const NOT_ENDED_TTL_MS = TASK_END_PROPAGATION_MS / 2;

/** How many task ids a replica keeps an answer for, each way (an evicted one is looked up again). */
export const TASK_CACHE_ENTRIES = 100_000;

/** Counters of {@link TaskEnds}, for tests and `/metrics`. */
export interface TaskEndsStats {
  /** Lookups sent to the database. */
  lookups: number;
  /** Of those, how many failed (each such call answered 503, never allowed). */
  failures: number;
  /** Tasks this replica ended. */
  ended: number;
}

/** Who ends a task, and why (the `task/end` record's `caller`, `requestId` and `message`). */
export interface TaskEndRequestMeta {
  caller: string | null;
  requestId: string | null;
  reason?: string;
  /** The active policy set's version (every record names one). */
  policySetVersion: string;
  /** The instant the request was received. */
  now: Date;
}

/** Ended tasks: the lookup every `tools/call` with a task makes, and the end itself. */
export class TaskEnds {
  readonly stats: TaskEndsStats = { lookups: 0, failures: 0, ended: 0 };
  /** Ended tasks: the answer never changes. */
  private readonly ended = new LRUCache<string, true>({ max: TASK_CACHE_ENTRIES });
  /** Tasks not ended as of a lookup started at most `NOT_ENDED_TTL_MS` ago. */
  private readonly open: LRUCache<string, true>;
  /** Lookups under way, joined by calls of the same task while the answer would still be fresh. */
  private readonly inFlight = new Map<string, { startedAt: number; answer: Promise<boolean> }>();

  /**
   * @param db the database holding `ended_tasks`
   * @param log the decision log the `task/end` records join
   * @param options.notEndedTtlMs see {@link NOT_ENDED_TTL_MS} (tests shorten or lengthen it)
   */
  constructor(
    private readonly db: Db,
    private readonly log: DecisionLog,
    private readonly options: { notEndedTtlMs?: number } = {},
  ) {
    this.open = new LRUCache<string, true>({ max: TASK_CACHE_ENTRIES, ttl: this.ttl, ttlAutopurge: false });
  }

  private get ttl(): number {
    return this.options.notEndedTtlMs ?? NOT_ENDED_TTL_MS;
  }

  /**
   * Whether the task has ended, as of at most {@link NOT_ENDED_TTL_MS} ago.
   * @throws the database's error when it cannot answer (the caller must not allow then)
   */
  async isEnded(taskId: string): Promise<boolean> {
    if (this.ended.has(taskId)) return true;
    if (this.open.has(taskId)) return false;
    const now = performance.now();
    const running = this.inFlight.get(taskId);
    if (running && now - running.startedAt < this.ttl) return running.answer;
    const answer = this.lookup(taskId, now);
    this.inFlight.set(taskId, { startedAt: now, answer });
    try {
      return await answer;
    } finally {
      if (this.inFlight.get(taskId)?.answer === answer) this.inFlight.delete(taskId);
    }
  }

  private async lookup(taskId: string, startedAt: number): Promise<boolean> {
    this.stats.lookups++;
    let rows: Array<{ taskId: string }>;
    try {
      rows = await this.db.select({ taskId: endedTasks.taskId }).from(endedTasks).where(eq(endedTasks.taskId, taskId)).limit(1);
    } catch (e) {
      this.stats.failures++;
      throw e;
    }
    if (rows.length) {
      this.ended.set(taskId, true);
      return true;
    }
    // Fresh from when the lookup started, not from when it answered.
    const left = this.ttl - (performance.now() - startedAt);
    if (left > 0) this.open.set(taskId, true, { ttl: left });
    return false;
  }

  /**
   * Ends a task: appends its `task/end` record (hash chain), then marks it ended for every
   * replica. Ending an ended task changes nothing and answers the first end.
   * @throws RecordError (from the log) when the record cannot be committed, or the database's
   *   error when `ended_tasks` cannot be read or written; the task is then not (yet) ended
   */
  async end(taskId: string, meta: TaskEndRequestMeta): Promise<TaskEndResponse> {
    const first = await this.endOf(taskId);
    if (first) return { ...first, alreadyEnded: true };
    const record = await this.log.append(taskEndRecord(taskId, meta));
    const inserted = await this.db
      .insert(endedTasks)
      .values({ taskId, endedAt: new Date(record.time), recordId: record.id, endedBy: meta.caller })
      .onConflictDoNothing()
      .returning({ taskId: endedTasks.taskId });
    this.ended.set(taskId, true);
    this.open.delete(taskId);
    if (!inserted.length) {
      // Another request ended it meanwhile (this one's record stays in the chain: it was asked).
      const winner = await this.endOf(taskId);
      if (winner) return { ...winner, alreadyEnded: true };
    }
    this.stats.ended++;
    return { task: { id: taskId }, endedAt: record.time, recordId: record.id, endedBy: meta.caller, alreadyEnded: false };
  }

  /**
   * The end of a task, or null while it is open.
   * @throws the database's error when it cannot answer
   */
  async endOf(taskId: string): Promise<Omit<TaskEndResponse, "alreadyEnded"> | null> {
    const [row] = await this.db.select().from(endedTasks).where(eq(endedTasks.taskId, taskId)).limit(1);
    if (!row) return null;
    this.ended.set(taskId, true);
    return { task: { id: row.taskId }, endedAt: row.endedAt.toISOString(), recordId: row.recordId, endedBy: row.endedBy };
  }
}

/**
 * The `task/end` record of the decision log (kind `task/end`, decision `deny`: what the task's
 * calls get from now on; `agent`, `server`, `tool` and `action` empty, no arguments).
 */
export function taskEndRecord(taskId: string, meta: TaskEndRequestMeta): UnchainedRecord {
  return eventRecord({
    id: uuidv7(),
    time: meta.now.toISOString(),
    kind: "task/end",
    agent: "",
    user: null,
    delegation: [],
    server: "",
    tool: "",
    action: "",
    arguments: null,
    argumentsSha256: canonicalSha256(null),
    task: { id: taskId },
    decision: "deny",
    reasons: [REASONS.taskEnded],
    obligations: [],
    message: meta.reason ? `task ended: ${meta.reason}` : "task ended",
    policySetVersion: meta.policySetVersion,
    caller: meta.caller,
    requestId: meta.requestId,
  });
}
