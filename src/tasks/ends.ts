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
import { eq, inArray } from "drizzle-orm";
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

/** The most task ids one lookup statement asks about. */
export const TASK_BATCH_MAX = 1_000;

/** Counters of {@link TaskEnds}, for tests and `/metrics`. */
export interface TaskEndsStats {
  /** Lookup statements sent to the database (each asks about every task waiting then). */
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
  /** Task ids waiting for the next batch lookup, each with the calls waiting for its answer. */
  private queued = new Map<string, Array<{ resolve: (ended: boolean) => void; reject: (e: unknown) => void }>>();
  /** The batch lookup under way: when it started, and the ids it asks about. */
  private running: { startedAt: number; ids: Map<string, Promise<boolean>> } | null = null;

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
   * Whether the task has ended, as of at most {@link NOT_ENDED_TTL_MS} ago. Lookups of many tasks
   * at once go to the database together: while one batch is under way, the tasks asked about
   * wait for the next, one statement for all of them (`task_id = ANY(...)`), so a busy replica
   * sends about one statement per database round trip, whatever the number of tasks.
   * @throws the database's error when it cannot answer (the caller must not allow then)
   */
  isEnded(taskId: string): Promise<boolean> {
    if (this.ended.has(taskId)) return Promise.resolve(true);
    if (this.open.has(taskId)) return Promise.resolve(false);
    // A batch under way that asks about this task, started recently enough: its answer will do.
    const running = this.running;
    const joined = running && performance.now() - running.startedAt < this.ttl ? running.ids.get(taskId) : undefined;
    if (joined) return joined;
    return new Promise<boolean>((resolve, reject) => {
      const waiting = this.queued.get(taskId);
      if (waiting) waiting.push({ resolve, reject });
      else this.queued.set(taskId, [{ resolve, reject }]);
      if (!this.running) this.flush();
    });
  }

  /** Sends the queued lookups as one batch; when it answers, the next batch (if any) goes. */
  private flush(): void {
    if (this.running || this.queued.size === 0) return;
    // At most TASK_BATCH_MAX ids a statement; the rest wait for the next one.
    let batch = this.queued;
    if (batch.size <= TASK_BATCH_MAX) this.queued = new Map();
    else {
      const entries = [...batch];
      batch = new Map(entries.slice(0, TASK_BATCH_MAX));
      this.queued = new Map(entries.slice(TASK_BATCH_MAX));
    }
    const startedAt = performance.now();
    const ids = [...batch.keys()];
    const answer = this.lookup(ids, startedAt);
    const perId = new Map(ids.map((id) => [id, answer.then((ended) => ended.has(id))] as const));
    this.running = { startedAt, ids: perId };
    answer.then(
      (ended) => {
        for (const [id, waiting] of batch) for (const w of waiting) w.resolve(ended.has(id));
      },
      (e: unknown) => {
        for (const waiting of batch.values()) for (const w of waiting) w.reject(e);
      },
    ).finally(() => {
      this.running = null;
      this.flush();
    });
    // The per-id promises are for joiners; a failure is reported to the waiting calls above.
    for (const p of perId.values()) p.catch(() => undefined);
  }

  /** One statement: which of `ids` have ended; caches the answers. */
  private async lookup(ids: string[], startedAt: number): Promise<Set<string>> {
    this.stats.lookups++;
    let rows: Array<{ taskId: string }>;
    try {
      rows = await this.db.select({ taskId: endedTasks.taskId }).from(endedTasks).where(inArray(endedTasks.taskId, ids));
    } catch (e) {
      this.stats.failures++;
      throw e;
    }
    const ended = new Set(rows.map((r) => r.taskId));
    // Fresh from when the lookup started, not from when it answered.
    const left = this.ttl - (performance.now() - startedAt);
    for (const id of ids) {
      if (ended.has(id)) this.ended.set(id, true);
      else if (left > 0) this.open.set(id, true, { ttl: left });
    }
    return ended;
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
