/**
 * Verdict's own checks, made before Cedar. One copy for every path that decides, so that a
 * replay, a tool list and a tool call cannot disagree about what they check:
 * - {@link checkToolCall}: `POST /v1/mcp/tools/call`, the AuthZEN MCP binding and replay
 *   (identity failure, unknown agent, user, server, tool, tool drift, arguments that do not fit
 *   the pinned inputSchema);
 * - {@link checkParties} and {@link checkServer}: the part of it `POST /v1/mcp/tools/list` shares;
 * - {@link checkPrincipal} and {@link checkSessionUser}: `/v1/authorize`, the batch, AuthZEN's
 *   Cedar mapping and their replay (the principal and `context.session.user` must be entities of
 *   the policy set's store).
 *
 * Each failure is a deny with one `verdict:<check>` reason (`REASONS` of `src/contract/reasons.ts`)
 * and a message; none of them throws.
 */
import { ArgumentsError, toCedarValue } from "../catalog/arguments.js";
import type { PinnedTool } from "../catalog/tool-schema.js";
import type { EntityUid } from "../cedar/types.js";
import { REASONS } from "../contract/reasons.js";
import type { ResolvedIdentity } from "../identity/resolve.js";
import type { PolicySet } from "../policy/policy-set.js";

/** Why a request is denied before Cedar: a `verdict:<check>` reason and a one-line message. */
export interface CheckFailure {
  reason: string;
  message: string;
}

/**
 * Tool drift known to Verdict: for a tool (`<server>/<tool>`) pinned with `pinnedHash`, the
 * definition hash a gateway reported instead, or undefined when no drift is open.
 */
export type DriftLookup = (actionId: string, pinnedHash: string) => string | undefined;

/** The parts of a tool call the checks read. */
export interface CheckedCall {
  agent: string;
  user?: string;
  server: string;
  tool: string;
  arguments: Record<string, unknown>;
}

/** A tool call that passed every check: its pinned tool and `context.input` in Cedar form. */
export interface CheckedToolCall {
  tool: PinnedTool;
  input: unknown;
}

const AGENT = "Mcp::Agent";
const USER = "Mcp::User";

const unknownAgent = (id: string): CheckFailure => ({ reason: REASONS.unknownAgent, message: `agent ${JSON.stringify(id)} is not a known Mcp::Agent` });
const unknownUser = (id: string): CheckFailure => ({ reason: REASONS.unknownUser, message: `user ${JSON.stringify(id)} is not a known Mcp::User` });

/**
 * The identity failure (a refused token, a required proof missing), then an agent and a user
 * that no token proved and the store does not hold. A party proven by a token need not be held.
 * @param identity how the agent and the user were identified; absent: both asserted
 */
export function checkParties(ps: PolicySet, q: { agent: string; user?: string }, identity?: ResolvedIdentity): CheckFailure | null {
  if (identity?.failure) return identity.failure;
  if (!identity?.agent.verified && !ps.entities.get({ type: AGENT, id: q.agent })) return unknownAgent(q.agent);
  if (q.user !== undefined && !identity?.user?.verified && !ps.entities.get({ type: USER, id: q.user })) return unknownUser(q.user);
  return null;
}

/** A server without a pinned catalog in the policy set. */
export function checkServer(ps: PolicySet, server: string): CheckFailure | null {
  return ps.servers.has(server) ? null : { reason: REASONS.unknownServer, message: `server ${JSON.stringify(server)} has no pinned tool catalog` };
}

/**
 * Every check of a tool call before Cedar, in this order: identity failure, unknown agent,
 * unknown user, unknown server, unknown tool, open tool drift, arguments that do not fit the
 * pinned inputSchema (ajv, then the conversion to the tool's Cedar input type).
 * @param drift open tool drift: a drifted tool is denied, naming both hashes, until re-pinned
 * @returns the failure, or the pinned tool and the arguments as `context.input`
 */
export function checkToolCall(ps: PolicySet, q: CheckedCall, identity?: ResolvedIdentity, drift?: DriftLookup): CheckFailure | CheckedToolCall {
  const parties = checkParties(ps, q, identity) ?? checkServer(ps, q.server);
  if (parties) return parties;
  const actionId = `${q.server}/${q.tool}`;
  const tool = ps.tools.get(actionId);
  if (!tool) return { reason: REASONS.unknownTool, message: `tool ${JSON.stringify(q.tool)} is not in the pinned catalog of server ${JSON.stringify(q.server)}` };
  const reported = drift?.(actionId, tool.definitionHash);
  if (reported) {
    return {
      reason: REASONS.toolDrift,
      message: `tool ${JSON.stringify(actionId)} differs from its pinned definition (pinned ${tool.definitionHash}, reported ${reported}); calls are denied until it is re-pinned`,
    };
  }
  const invalid = (why: string): CheckFailure => ({ reason: REASONS.argumentsInvalid, message: `arguments do not fit the inputSchema of ${actionId}: ${why}` });
  const schemaProblem = tool.checkArguments(q.arguments);
  if (schemaProblem) return invalid(schemaProblem);
  try {
    return { tool, input: toCedarValue(tool.inputType, q.arguments) };
  } catch (e) {
    if (e instanceof ArgumentsError) return invalid(e.message);
    throw e;
  }
}

/** Whether a {@link checkToolCall} result is a failure. */
export function isFailure(r: CheckFailure | CheckedToolCall): r is CheckFailure {
  return "reason" in r;
}

/**
 * The principal of a request without tokens (`/v1/authorize`, AuthZEN's Cedar mapping) must be
 * an entity the policy set holds, whatever its type: an `Mcp::Agent` the store does not hold is
 * `verdict:unknown-agent` (as on `tools/call`), an `Mcp::User` `verdict:unknown-user`, any other
 * type `verdict:unknown-principal`. Entities the caller supplies never count for this.
 */
export function checkPrincipal(ps: PolicySet, principal: EntityUid): CheckFailure | null {
  if (ps.entities.get(principal)) return null;
  if (principal.type === AGENT) return unknownAgent(principal.id);
  if (principal.type === USER) return unknownUser(principal.id);
  return {
    reason: REASONS.unknownPrincipal,
    message: `principal ${principal.type}::${JSON.stringify(principal.id)} is not an entity of the policy set`,
  };
}

/**
 * `context.session.user` of a request without tokens must be an `Mcp::User` the store holds
 * (`verdict:unknown-user`). Both of Cedar's forms of an entity reference count: `{"__entity":
 * {"type", "id"}}` and `{"type", "id"}`.
 * @param user the entity `context.session.user` refers to (see {@link entityRef}), or null
 */
export function checkSessionUser(ps: PolicySet, user: EntityUid | null): CheckFailure | null {
  if (!user || user.type !== USER || ps.entities.get(user)) return null;
  return unknownUser(user.id);
}

/**
 * The entity a Cedar JSON value refers to, in either of Cedar's forms (`{"__entity": {"type",
 * "id"}}`, or `{"type", "id"}` where the schema expects an entity), or null.
 */
export function entityRef(value: unknown): EntityUid | null {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const obj = value as Record<string, unknown>;
  const uid = (obj.__entity ?? obj) as Record<string, unknown> | null;
  if (uid === null || typeof uid !== "object") return null;
  return typeof uid.type === "string" && typeof uid.id === "string" ? { type: uid.type, id: uid.id } : null;
}
