/**
 * Task memory: `context.session.history` (DESIGN.md "Task memory", docs/task-memory.md), what
 * the task, the agent and the user were already allowed to do, set by Verdict on every
 * `tools/call` and never by the caller.
 *
 * - **Source**: the decision log in the database (`../decision-log/history.ts`), one statement
 *   per decision, so a decision committed by any replica is seen by every later decision.
 * - **Only when read**: the history is read only when a policy that can apply to the call's
 *   action names an attribute `history` (or observes `context` whole), as the fast path knows
 *   (`PreparedEngine.attributesRead`); otherwise no query is made and the recorded request has no
 *   `history` (the engine gets {@link EMPTY_HISTORY}, which no applicable policy can tell apart).
 * - **Serialised per task, per replica**: decisions of one task that read history run one at a
 *   time in a replica, from the history read until the decision is committed
 *   ({@link TaskHistory.serialise}), so the second of two concurrent calls sees the first.
 *   Across replicas they are not serialised; the window is bounded instead: an allow whose record
 *   committed more than {@link HISTORY_MAX_AGE_MS} after its history read started is answered
 *   503, so two calls can miss each other only when their reads start within that bound
 *   (docs/task-memory.md "Two replicas").
 * - **Recorded**: the values a decision saw are in its recorded request
 *   (`request.context.session.history`), which replay uses.
 */
import { HISTORY_WINDOW_MS, readHistoryCounts, type HistoryCounts } from "../decision-log/history.js";
import type { Db } from "../db/client.js";
import type { PolicySet } from "../policy/policy-set.js";

export { HISTORY_WINDOW_MS };

/**
 * `Mcp::History` of `schema/mcp.cedarschema`: counts of allowed `tools/call` decisions. Counts are
 * non-negative integers; `actions` is sorted.
 */
export interface History {
  /** tools/calls allowed earlier in this task (0 without a task). */
  calls: number;
  /** Allowed earlier in this task, this same tool (0 without a task). */
  toolCalls: number;
  /**
   * Every tool allowed earlier in this task as `<server>/<tool>`, plus each one's action groups
   * by id (`<server>`, `call_tool`, the groups of `groups.json`, `read-only`, `destructive`,
   * `open-world`), as the deciding policy set groups them; empty without a task.
   */
  actions: string[];
  /** This agent, this tool, any task, allowed in the 60 minutes before the request. */
  agentToolCallsLastHour: number;
  /** This user (0 without one), this tool, any task, allowed in the 60 minutes before the request. */
  userToolCallsLastHour: number;
}

/** The history of a first call: nothing done yet. */
export const EMPTY_HISTORY: Readonly<History> = Object.freeze({ calls: 0, toolCalls: 0, actions: [], agentToolCallsLastHour: 0, userToolCallsLastHour: 0 });

/**
 * Whether a decision of `<server>/<tool>` needs the history: the action is pinned and some policy
 * that can apply to it names an attribute `history`, or may observe `context` whole (then it
 * could see anything). An unpinned tool is denied by Verdict's checks before Cedar: no.
 */
export function readsHistory(ps: PolicySet, actionId: string): boolean {
  if (!ps.tools.has(actionId)) return false;
  const reads = ps.engine.attributesRead({ type: "Mcp::Action", id: actionId });
  return reads === null || reads.has("history");
}

/** Per policy set, each action's id and the ids of every action group above it (computed once per action). */
const lineages = new WeakMap<PolicySet, Map<string, readonly string[]>>();

/** The ids of an action and of every action group above it, in `ps`'s hierarchy (cached per set). */
function lineageOf(ps: PolicySet, actionId: string, server: string): readonly string[] {
  let byAction = lineages.get(ps);
  if (!byAction) lineages.set(ps, (byAction = new Map()));
  const known = byAction.get(actionId);
  if (known) return known;
  const out = new Set<string>([actionId]);
  const entity = ps.actionEntities.get(actionId);
  if (!entity) {
    // a tool the deciding set no longer pins: still a tool of its server, and a tool
    out.add(server);
    out.add("call_tool");
  } else {
    const stack = [...entity.parents];
    while (stack.length) {
      const p = stack.pop()!;
      if (out.has(p.id)) continue;
      out.add(p.id);
      const parent = ps.actionEntities.get(p.id);
      if (parent) stack.push(...parent.parents);
    }
  }
  // Bounded by the tools a task can name: ids the set does not pin are not kept.
  const lineage = [...out];
  if (entity) byAction.set(actionId, lineage);
  return lineage;
}

/** The history of a call from the log's counts; groups as `ps` (the deciding set) declares them. */
export function historyFrom(ps: PolicySet, counts: HistoryCounts, server: string, tool: string): History {
  let calls = 0;
  let toolCalls = 0;
  const actions = new Set<string>();
  for (const [s, t, n] of counts.task) {
    calls += n;
    if (s === server && t === tool) toolCalls += n;
    for (const id of lineageOf(ps, `${s}/${t}`, s)) actions.add(id);
  }
  return {
    calls,
    toolCalls,
    actions: [...actions].sort(),
    agentToolCallsLastHour: counts.agentToolCallsLastHour,
    userToolCallsLastHour: counts.userToolCallsLastHour,
  };
}

/** Runs async sections one at a time per key (a FIFO chain of promises per key). */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Keys with a section running or waiting (for tests). */
  get size(): number {
    return this.tails.size;
  }

  /** Runs `fn` once every section started earlier with `key` has settled; returns its result. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** Counters of a {@link TaskHistory}, for `/metrics` and tests. */
export interface TaskHistoryStats {
  /** History statements sent to the database (one per decision that read history). */
  reads: number;
  /** Of those, how many failed (each such decision answered 503, never allowed). */
  failures: number;
  /** Allows committed more than `maxAgeMs` after their history read (answered 503). */
  stale: number;
}

/**
 * The longest time, in ms, from the start of a decision's history read to the commit of its
 * record for which an allow is still answered (default of {@link TaskHistory}'s `maxAgeMs`).
 * Later, the history it was decided on may miss a call another replica decided meanwhile, so the
 * caller gets a 503 instead (docs/task-memory.md "Two replicas").
 */
export const HISTORY_MAX_AGE_MS = 2_000;

/** Where decisions get their history: the decision log, and the per-task lock of this replica. */
export class TaskHistory {
  readonly stats: TaskHistoryStats = { reads: 0, failures: 0, stale: 0 };
  private readonly locks = new KeyedMutex();
  /** See {@link HISTORY_MAX_AGE_MS}. */
  readonly maxAgeMs: number;

  /**
   * @param db the database holding the decision log
   * @param options.maxAgeMs see {@link HISTORY_MAX_AGE_MS}
   */
  constructor(
    private readonly db: Db,
    options: { maxAgeMs?: number } = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? HISTORY_MAX_AGE_MS;
  }

  /**
   * The history of a call about to be decided, from every record committed so far.
   * @param now the instant the request was received (the hourly window ends there)
   * @throws the database's error when it cannot answer; the caller must fail closed
   */
  async read(ps: PolicySet, q: { agent: string; user?: string; server: string; tool: string; task?: { id: string } }, now: Date): Promise<History> {
    this.stats.reads++;
    try {
      const counts = await readHistoryCounts(this.db, { agent: q.agent, user: q.user, server: q.server, tool: q.tool, taskId: q.task?.id }, now);
      return historyFrom(ps, counts, q.server, q.tool);
    } catch (e) {
      this.stats.failures++;
      throw e;
    }
  }

  /**
   * Runs `fn` (read the history, decide, commit the record) after every earlier section of the
   * same task in this replica has finished; without a task, at once.
   */
  serialise<T>(taskId: string | undefined, fn: () => Promise<T>): Promise<T> {
    return taskId === undefined ? fn() : this.locks.run(taskId, fn);
  }
}
