/**
 * The task surface of the wire contract (an extension of DESIGN.md's, "Task memory"):
 * `POST /v1/tasks/{taskId}/end` (roles `pep`, `admin`), whose body and answer are defined in
 * `@verdict/sdk` (gateways end tasks) and re-exported here, and `GET /v1/tasks/{taskId}` (roles
 * `auditor`, `admin`), the auditor's view of one task, defined here.
 */
import { z } from "zod";
import { DecisionRecord, DelegationActor } from "./decision-log.js";

export { TASK_END_PROPAGATION_MS, TaskEndRequest, TaskEndResponse } from "../../packages/sdk/src/wire.js";
import { TaskEndResponse } from "../../packages/sdk/src/wire.js";

/**
 * One chain of actors that worked on the task: the agent (Cedar principal), the user it acted
 * for (null: nobody) and the delegation chain of the user token's `act` claim (RFC 8693 §4.1,
 * outermost actor first), with how many `tools/call` decisions it had, and when.
 */
export const TaskActor = z.object({
  agent: z.string(),
  user: z.string().nullable(),
  delegation: z.array(DelegationActor),
  decisions: z.number(),
  allowed: z.number(),
  denied: z.number(),
  /** ISO 8601: the first and the last of its decisions. */
  first: z.string(),
  last: z.string(),
});
export type TaskActor = z.infer<typeof TaskActor>;

/** `GET /v1/tasks/{taskId}` query: a page of the task's records, oldest first. */
export const TaskQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  cursor: z.string().optional(),
});
export type TaskQuery = z.input<typeof TaskQuery>;

/**
 * `GET /v1/tasks/{taskId}` answer: "what did this agent do on this task". `records` are the
 * task's records in the order they were made (oldest first: its decisions, and its `task/end`
 * record); `nextCursor` pages on (null: no more). `actors` and `summary` cover the whole task,
 * not only the page (at most `TASK_ACTORS_MAX` actors, the earliest first). `kind` is the task
 * kind its first decision named. 404 when no record names the task.
 */
export const TaskView = z.object({
  task: z.object({ id: z.string(), kind: z.string().nullable() }),
  status: z.enum(["open", "ended"]),
  ended: TaskEndResponse.omit({ alreadyEnded: true }).nullable(),
  /** The task's `tools/call` decisions: how many, allowed, denied, and the first and last (ISO 8601; null: none). */
  summary: z.object({ decisions: z.number(), allowed: z.number(), denied: z.number(), first: z.string().nullable(), last: z.string().nullable() }),
  actors: z.array(TaskActor),
  records: z.array(DecisionRecord),
  nextCursor: z.string().nullable(),
});
export type TaskView = z.infer<typeof TaskView>;

/** The most actor chains a task view lists. */
export const TASK_ACTORS_MAX = 100;
