/**
 * The gateway's per-call question (`POST /v1/mcp/tools/call`): should this agent, acting for this
 * user, on this task, call this tool with these arguments, now? Verdict's own checks run first
 * (known agent, user, server and tool; arguments that fit the pinned inputSchema), then Cedar.
 */
import type { PinnedTool } from "../catalog/tool-schema.js";
import type { CedarRequest, EngineDecision, EntityUid } from "../cedar/types.js";
import { identityEntities } from "../identity/entities.js";
import type { ResolvedIdentity } from "../identity/resolve.js";
import type { PolicySet } from "../policy/policy-set.js";
import { REASONS } from "../contract/reasons.js";
import { checkToolCall, isFailure, type DriftLookup } from "./checks.js";
import { explain, microsSince, uidText, type Evaluation } from "./evaluation.js";
import { EMPTY_HISTORY, readsHistory, type History } from "./history.js";
import { leanToolCallRequest } from "./lean-request.js";
import { approvableDeny } from "./approvable.js";
import type { PreparedEngine } from "../cedar/engine.js";

export type { DriftLookup } from "./checks.js";

/** A tool call question, as validated from the wire (see `contract/decision.ts`). */
export interface ToolCallQuestion {
  agent: string;
  user?: string;
  server: string;
  tool: string;
  arguments: Record<string, unknown>;
  task?: { id: string; kind?: string };
  client?: string;
}

/** Which parties a token proved (`context.session.verified`); Verdict sets it on every request. */
export interface Verified {
  agent: boolean;
  user: boolean;
}

/** Nothing proven: what every request without tokens gets. */
export const NOT_VERIFIED: Verified = { agent: false, user: false };

/**
 * Builds `context.session` (Mcp::Session): the delegating user, the task, the client, which
 * parties a token proved, and the time of the request (Unix seconds, UTC hour 0-23, ISO weekday
 * 1-7).
 */
export function sessionContext(
  q: Omit<ToolCallQuestion, "tool" | "arguments" | "server">,
  now: Date,
  verified: Verified = NOT_VERIFIED,
): Record<string, unknown> {
  const session: Record<string, unknown> = {
    requestTime: Math.floor(now.getTime() / 1000),
    hourUtc: now.getUTCHours(),
    weekdayUtc: now.getUTCDay() === 0 ? 7 : now.getUTCDay(),
    verified: { agent: verified.agent, user: verified.user },
  };
  if (q.user !== undefined) session.user = { __entity: { type: "Mcp::User", id: q.user } };
  if (q.task) session.task = q.task.kind === undefined ? { id: q.task.id } : { id: q.task.id, kind: q.task.kind };
  if (q.client !== undefined) session.client = q.client;
  return session;
}

/** Which parties of a resolved identity a token proved. */
export function verifiedOf(identity: ResolvedIdentity | undefined): Verified {
  return { agent: identity?.agent.verified ?? false, user: identity?.user?.verified ?? false };
}

/** The uids of the request's entities, to slice the store with. */
export function requestUids(q: { agent: string; user?: string; server: string }): EntityUid[] {
  const uids: EntityUid[] = [
    { type: "Mcp::Agent", id: q.agent },
    { type: "Mcp::Server", id: q.server },
  ];
  if (q.user !== undefined) uids.push({ type: "Mcp::User", id: q.user });
  return uids;
}

/**
 * Evaluates a tool call against a policy set. Never throws: an identity failure (a refused
 * token, a required proof missing), unknown agent, user, server or tool, arguments that do not
 * fit the pinned inputSchema, and Cedar errors are all denies with reasons. A party proven by a
 * token need not be in `entities.json`; one only asserted must be.
 * @param now the instant the request was received (also what `context.session` says)
 * @param identity how `q.agent` and `q.user` were identified; absent: both asserted
 * @param drift open tool drift: a drifted tool is denied, naming both hashes, until re-pinned
 * @param history task memory (`context.session.history`, `./history.ts`) as Verdict read it from
 *   the decision log; it becomes part of the request and so of the record. Needed only when
 *   {@link readsHistory} says so: when it does and none is given, the call is denied with
 *   `verdict:history-unavailable` (never decided on a history nobody read); when it does not,
 *   a given one is still recorded, and none leaves `history` out of the recorded request
 * @param taskEnded the call's task has ended (src/tasks/ends.ts): denied `verdict:task-ended`
 *   before any other check, Cedar not asked
 */
export function evaluateToolCall(
  ps: PolicySet,
  q: ToolCallQuestion,
  now: Date,
  identity?: ResolvedIdentity,
  drift?: DriftLookup,
  history?: History,
  taskEnded = false,
): Evaluation {
  const start = process.hrtime.bigint();
  const actionId = `${q.server}/${q.tool}`;
  const session = sessionContext(q, now, verifiedOf(identity));
  if (history) session.history = { ...history, actions: [...history.actions] };
  const request: CedarRequest = {
    principal: { type: "Mcp::Agent", id: q.agent },
    action: { type: "Mcp::Action", id: actionId },
    resource: { type: "Mcp::Server", id: q.server },
    context: { input: q.arguments, session },
    entities: [],
  };
  const base = {
    kind: "tools/call" as const,
    policySetVersion: ps.version,
    agent: q.agent,
    user: q.user ?? null,
    server: q.server,
    tool: q.tool,
    action: uidText(request.action),
    arguments: q.arguments,
    task: q.task ?? null,
    request,
    obligations: [],
  };
  const deny = (reason: string, message: string): Evaluation => ({
    ...base,
    decision: "deny",
    reasons: [reason],
    errors: [],
    message,
    evaluationMicros: microsSince(start),
  });

  if (taskEnded) return deny(REASONS.taskEnded, `task ${JSON.stringify(q.task?.id)} has ended; no further call is allowed on it`);
  // Verdict's own checks (src/pdp/checks.ts), the same ones replay makes.
  const checked = checkToolCall(ps, q, identity, drift);
  if (isFailure(checked)) return deny(checked.reason, checked.message);
  if (!history && readsHistory(ps, actionId)) {
    return deny(REASONS.historyUnavailable, `a policy for ${actionId} reads context.session.history, and this path has no task history to give; denied`);
  }
  request.context = { input: checked.input, session: request.context.session };
  request.entities = identityEntities(ps.entities, requestUids(q), identity);
  const answer = authorizeToolCall(ps, checked.tool, request, { cacheable: true });
  const approvable = approvableDeny(ps, checked.tool, request, answer, (engine, tool, r) => authorizeToolCall(ps, tool, r, { engine, cacheable: true }));
  return {
    ...base,
    decision: answer.decision,
    reasons: answer.reasons,
    errors: answer.errors,
    message: approvable ? `${explain(answer)}; a person of ${approvable.groups.map((g) => `Mcp::Group::${JSON.stringify(g)}`).join(" or ")} may approve this exact call` : explain(answer),
    evaluationMicros: microsSince(start),
    ...(approvable ? { approvable, definitionHash: checked.tool.definitionHash } : {}),
  };
}

/**
 * Cedar's answer to a tool call that passed {@link checkToolCall}, on tools/call and in replay.
 * The record keeps the full request; the engine gets only what the applicable policies read.
 * A session without `history` (no applicable policy read it when the call was decided, or a
 * record older than task memory) is given {@link EMPTY_HISTORY}, the value of a first call,
 * which the schema requires.
 * @param request built by Verdict: `context.input` converted by `checkToolCall` for `tool`
 * @param options.cacheable whether the engine's decision cache may answer (`AuthorizeOptions.cacheable`):
 *   true only for a request whose `context.session` Verdict has just built (tools/call), not for
 *   a recorded one (replay), whose session an older Verdict wrote
 * @param options.engine the set's engine (default), or its lifted engine (`./approvable.ts`)
 */
export function authorizeToolCall(
  ps: PolicySet,
  tool: PinnedTool,
  request: CedarRequest,
  options: { cacheable?: boolean; engine?: PreparedEngine } = {},
): EngineDecision {
  const engine = options.engine ?? ps.engine;
  const reads = engine.attributesRead(request.action);
  const full = engineRequest(request);
  return engine.authorize(reads ? leanToolCallRequest(ps.schema, tool.inputType, full, reads) : full, { cacheable: options.cacheable ?? false });
}

/**
 * A recorded tool-call request as the engine takes it: with {@link EMPTY_HISTORY} in
 * `context.session` when it has no `history` (the schema requires one; a record leaves it out
 * when no applicable policy read it). Other requests are returned as they are.
 */
export function engineRequest(request: CedarRequest): CedarRequest {
  const session = request.context?.session as Record<string, unknown> | undefined;
  if (!session || typeof session !== "object" || "history" in session) return request;
  return { ...request, context: { ...request.context, session: { ...session, history: { ...EMPTY_HISTORY, actions: [] } } } };
}

/** A one-line explanation of an engine answer (in `evaluation.ts`, beside the reason codes it explains). */
export { explain };
