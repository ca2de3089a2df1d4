/**
 * Verdict's tables (drizzle). The SQL that creates them lives in `migrations/`, generated from
 * this file with `npx drizzle-kit generate`, and is applied at start by both drivers.
 */
import { sql } from "drizzle-orm";
import { bigint, index, integer, jsonb, pgTable, primaryKey, smallint, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

/**
 * The decision record: append-only, one row per answered question. The primary key leads with
 * `id` (a UUIDv7, so time-ordered) and includes `time`, the partition key: in the database
 * the table is partitioned by RANGE on `time`, one partition per UTC day
 * (`migrations/0002_partitioning.sql`, which drizzle cannot express). The trigram index on
 * `arguments::text` for argument search lives only in that migration too.
 */
export const decisions = pgTable(
  "decisions",
  {
    id: uuid("id").notNull(),
    time: timestamp("time", { withTimezone: true, mode: "date" }).notNull(),
    kind: text("kind").notNull(),
    agent: text("agent").notNull(),
    userId: text("user_id"),
    delegation: jsonb("delegation").notNull().default(sql`'[]'::jsonb`),
    server: text("server").notNull(),
    tool: text("tool").notNull(),
    action: text("action").notNull(),
    arguments: jsonb("arguments"),
    argumentsSha256: text("arguments_sha256").notNull(),
    task: jsonb("task"),
    taskId: text("task_id"),
    decision: text("decision").notNull(),
    reasons: text("reasons").array().notNull(),
    errors: jsonb("errors").notNull(),
    obligations: jsonb("obligations").notNull(),
    message: text("message"),
    policySetVersion: text("policy_set_version").notNull(),
    caller: text("caller"),
    /** Who the agent and the user are and how Verdict knows (verified from a token or asserted). */
    identity: jsonb("identity"),
    /** The `jti` of the per-call credential minted with this decision, when one was. */
    credentialJti: text("credential_jti"),
    requestId: text("request_id"),
    /**
     * The W3C trace id (32 lowercase hex digits) of the decision's `verdict.decide` span, or of
     * the caller's `traceparent` when Verdict exports no traces; null without either
     * (docs/tracing.md). Inside the record hash when set.
     */
    traceId: text("trace_id"),
    evaluationMicros: integer("evaluation_micros").notNull(),
    request: jsonb("request").notNull(),
    stream: uuid("stream").notNull(),
    seq: bigint("seq", { mode: "number" }).notNull(),
    prevHash: text("prev_hash"),
    hash: text("hash").notNull(),
    /**
     * What `hash` covers (`decision-log/record.ts`): 1 for rows written before migration 0006
     * (the record's fields), 2 since (the same plus the version itself). The verifier hashes
     * each row by its version; a row's version cannot be changed without breaking its hash.
     */
    hashVersion: smallint("hash_version").notNull().default(1),
  },
  (t) => [
    primaryKey({ columns: [t.id, t.time] }),
    index("decisions_time_idx").on(t.time.desc(), t.id.desc()),
    index("decisions_agent_idx").on(t.agent, t.time.desc()),
    index("decisions_user_idx").on(t.userId, t.time.desc()),
    index("decisions_server_tool_idx").on(t.server, t.tool, t.time.desc()),
    index("decisions_decision_idx").on(t.decision, t.time.desc()),
    index("decisions_task_idx").on(t.taskId, t.time.desc()),
    index("decisions_reasons_idx").using("gin", t.reasons),
    index("decisions_stream_idx").on(t.stream, t.seq),
    index("decisions_tool_idx").on(t.tool, t.time.desc()),
    index("decisions_caller_idx").on(t.caller, t.time.desc()),
    index("decisions_request_id_idx").on(t.requestId),
    // Partial: most records have no trace id, and those cost the index nothing.
    index("decisions_trace_id_idx").on(t.traceId).where(sql`${t.traceId} IS NOT NULL`),
    index("decisions_policy_set_version_idx").on(t.policySetVersion, t.time.desc()),
    // Task memory (src/pdp/history.ts): the allowed tool calls of a task, of an agent and of a
    // user, by tool and time. Partial: only allowed tools/call rows are ever counted, so denies
    // and other kinds cost these indexes nothing and a count reads only the rows it counts.
    index("decisions_history_task_idx").on(t.taskId, t.server, t.tool).where(sql`${t.decision} = 'allow' AND ${t.kind} = 'tools/call' AND ${t.taskId} IS NOT NULL`),
    index("decisions_history_agent_idx").on(t.agent, t.server, t.tool, t.time).where(sql`${t.decision} = 'allow' AND ${t.kind} = 'tools/call'`),
    index("decisions_history_user_idx").on(t.userId, t.server, t.tool, t.time).where(sql`${t.decision} = 'allow' AND ${t.kind} = 'tools/call' AND ${t.userId} IS NOT NULL`),
  ],
);

/** One writer's hash chain: each Verdict process (and each restart after a failed write) starts a stream. */
export const streams = pgTable("streams", {
  id: uuid("id").primaryKey(),
  startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }).notNull(),
  host: text("host").notNull(),
  pid: integer("pid").notNull(),
  /** The last seq of this stream removed by retention (its partitions dropped), or null. */
  prunedSeq: bigint("pruned_seq", { mode: "number" }),
  /** The hash of the record at `prunedSeq`: the `prevHash` the first kept record must carry. */
  prunedHash: text("pruned_hash"),
  /**
   * 1: a stream written before migration 0006 (legacy: its retention was not signed and its
   * heads list no other streams); 2: written since. Signed heads state each stream's version,
   * so a stream cannot be passed off as legacy after the fact (`audit/verify.ts`).
   */
  chainVersion: smallint("chain_version").notNull().default(1),
});

/**
 * Tasks that have ended (`POST /v1/tasks/{taskId}/end`, src/tasks/ends.ts): one row per task,
 * written after the task's `task/end` record committed to the decision log (the record is the
 * hash-chained fact; this row is what every replica looks a task up in, and it outlives the
 * record's partition when retention drops it). Never updated or deleted by Verdict.
 */
export const endedTasks = pgTable("ended_tasks", {
  taskId: text("task_id").primaryKey(),
  endedAt: timestamp("ended_at", { withTimezone: true, mode: "date" }).notNull(),
  /** The id of the `task/end` record in `decisions`. */
  recordId: uuid("record_id").notNull(),
  /** The API key that ended it (`caller` of the record). */
  endedBy: text("ended_by"),
});

/**
 * Approval requests (DESIGN.md "Approvals bound to the exact call", src/approvals/store.ts): one
 * row per request for one exact call, from `pending` to `approved` or `denied` (once), and from
 * `approved` to `used` (once). `expires_at` is the end of the request's life while pending, and
 * of the approval's once approved. Each change is also a record of the decision log's hash
 * chain (`approval/request`, `approval/approve`, `approval/deny`, and the allowed `tools/call`
 * that used it); this table is what decisions look approvals up in.
 */
export const approvals = pgTable(
  "approvals",
  {
    id: uuid("id").primaryKey(),
    /** SHA-256 (hex) of the canonical binding: agent, user, delegation, server, tool, definition hash, arguments hash, task id. */
    bindingSha256: text("binding_sha256").notNull(),
    status: text("status").notNull(),
    /** The `Mcp::Group` ids whose people may decide it. */
    groups: text("groups").array().notNull(),
    /** The approvable forbids that denied the call. */
    policies: text("policies").array().notNull(),
    agent: text("agent").notNull(),
    userId: text("user_id"),
    delegation: jsonb("delegation").notNull(),
    server: text("server").notNull(),
    tool: text("tool").notNull(),
    definitionSha256: text("definition_sha256").notNull(),
    arguments: jsonb("arguments"),
    argumentsSha256: text("arguments_sha256").notNull(),
    task: jsonb("task"),
    taskId: text("task_id"),
    policySetVersion: text("policy_set_version").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
    decidedAt: timestamp("decided_at", { withTimezone: true, mode: "date" }),
    /** The person who approved or denied it (`Mcp::User` id). */
    decidedBy: text("decided_by"),
    comment: text("comment"),
    usedAt: timestamp("used_at", { withTimezone: true, mode: "date" }),
    /** The allowed `tools/call` decision that used it. */
    usedBy: uuid("used_by"),
    /** The `approval/request` record of the decision log. */
    requestRecordId: uuid("request_record_id").notNull(),
  },
  (t) => [
    index("approvals_binding_idx").on(t.bindingSha256, t.createdAt.desc()),
    // One pending request per exact call, whichever replica asks (`ApprovalStore.resolve`).
    uniqueIndex("approvals_pending_binding_idx").on(t.bindingSha256).where(sql`${t.status} = 'pending'`),
    index("approvals_status_idx").on(t.status, t.createdAt.desc()),
    index("approvals_groups_idx").using("gin", t.groups),
    index("approvals_agent_idx").on(t.agent, t.createdAt.desc()),
    index("approvals_user_idx").on(t.userId, t.createdAt.desc()),
    index("approvals_task_idx").on(t.taskId, t.createdAt.desc()),
  ],
);
