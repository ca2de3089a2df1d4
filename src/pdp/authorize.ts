/**
 * `POST /v1/authorize`: any Cedar request, answered by the active policy set. The request's
 * entities join the slice Verdict keeps for the principal, the resource and any entity the
 * context names. Verdict is the authority for the entities it holds (docs/entities.md):
 * - a request may not redefine an entity Verdict holds (`EntityConflictError`, a 400);
 * - the principal, and `context.session.user`, must be entities Verdict holds: otherwise the
 *   answer is a deny, `verdict:unknown-agent`, `verdict:unknown-user` or `verdict:unknown-principal`
 *   (src/pdp/checks.ts), as `tools/call` denies an unknown agent or user;
 * - an entity the request supplies may not be made a member of one Verdict holds
 *   (`EntityConflictError`, a 400): only Verdict's store puts anything in its groups.
 * Verdict fills in `context.session`'s time fields (`requestTime`, `hourUtc`, `weekdayUtc`)
 * when the caller leaves them out, and always sets `context.session.verified` to false.
 * `context.session.history` (task memory) is not read from the log here: a caller's is used as
 * given, a missing one is the empty history of a first call for the engine, and is not recorded
 * (only `tools/call` reads the log).
 */
import type { CedarRequest, CedarType, Entity, EntityUid, SchemaJson } from "../cedar/types.js";
import type { PolicySet } from "../policy/policy-set.js";
import { uidKey } from "../policy/entity-store.js";
import { checkPrincipal, checkSessionUser, entityRef } from "./checks.js";
import { explain, microsSince, uidText, type Evaluation } from "./evaluation.js";
import { engineRequest, sessionContext } from "./tool-call.js";

/** A Cedar request as validated from the wire. */
export interface AuthorizeQuestion {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, unknown>;
  entities: Entity[];
}

/**
 * Thrown when a request's entities conflict with the entities Verdict holds: one redefines a
 * held entity, or (with `parent`) an entity Verdict does not hold names a held one as parent.
 */
export class EntityConflictError extends Error {
  constructor(
    readonly uid: EntityUid,
    readonly parent?: EntityUid,
  ) {
    super(
      parent
        ? `entity ${uidText(uid)} is not held by Verdict and cannot be made a member of ${uidText(parent)}, which Verdict holds`
        : `entity ${uidText(uid)} is managed by Verdict and cannot be supplied in a request`,
    );
  }
}

/** Every entity a Cedar JSON value names, in either form (see `entityRef`); a superset is harmless. */
function collectUids(value: unknown, out: EntityUid[], depth = 0): void {
  if (depth > 32 || value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    for (const v of value) collectUids(v, out, depth + 1);
    return;
  }
  const ref = entityRef(value);
  if (ref) out.push(ref);
  const obj = value as Record<string, unknown>;
  if ("__entity" in obj) return;
  for (const v of Object.values(obj)) collectUids(v, out, depth + 1);
}

function mcpParts(q: AuthorizeQuestion, user: EntityUid | null): { agent: string; server: string; tool: string; user: string | null } {
  const agent = q.principal.type === "Mcp::Agent" ? q.principal.id : uidText(q.principal);
  const server = q.resource.type === "Mcp::Server" ? q.resource.id : uidText(q.resource);
  const slash = q.action.id.indexOf("/");
  const tool = q.action.type === "Mcp::Action" && slash > 0 ? q.action.id.slice(slash + 1) : q.action.id;
  return { agent, server, tool, user: user?.type === "Mcp::User" ? user.id : null };
}

const namespaceOf = (qualified: string) => (qualified.includes("::") ? qualified.slice(0, qualified.lastIndexOf("::")) : "");

/**
 * Whether the action's declared context has `session` of Verdict's type `Mcp::Session` (every
 * tool action, and any action a policy author declares so): only then does Verdict fill in
 * its time fields, which another context type would not declare.
 */
function takesMcpSession(schema: SchemaJson, action: EntityUid): boolean {
  const ns = namespaceOf(action.type);
  let context: CedarType | undefined = schema[ns]?.actions?.[action.id]?.appliesTo?.context;
  if (context && context.type !== "Record") {
    const ref = context.type === "EntityOrCommon" ? context.name : context.type;
    context = ref ? schema[ref.includes("::") ? namespaceOf(ref) : ns]?.commonTypes?.[ref.slice(ref.lastIndexOf(":") + 1)] : undefined;
  }
  const session = context?.type === "Record" ? context.attributes?.session : undefined;
  const name = session?.type === "EntityOrCommon" ? session.name : session?.type;
  return name === "Mcp::Session" || (ns === "Mcp" && name === "Session");
}

/**
 * The context Cedar gets. `/v1/authorize` carries no tokens, so nothing in it is proven:
 * `context.session.verified` is set to false for both parties, whatever the caller sent (a
 * caller cannot claim a proof). For an action whose context is Verdict's `Mcp::Session`, a
 * missing `session` is an empty one, the time fields the caller left out are those of `now` (as
 * on `tools/call`), and the user is written in the `__entity` form, so that the record says
 * plainly who it was.
 */
function withVerdictSession(schema: SchemaJson, q: AuthorizeQuestion, now: Date): Record<string, unknown> {
  const mcpSession = takesMcpSession(schema, q.action);
  const session = q.context.session === undefined && mcpSession ? {} : q.context.session;
  if (session === null || typeof session !== "object" || Array.isArray(session)) return q.context;
  const out: Record<string, unknown> = { ...(session as Record<string, unknown>) };
  if (mcpSession) {
    const times = sessionContext({ agent: "" }, now);
    for (const k of ["requestTime", "hourUtc", "weekdayUtc"]) if (!(k in out)) out[k] = times[k];
    const user = out.user === undefined ? null : entityRef(out.user);
    if (user) out.user = { __entity: user };
  }
  out.verified = { agent: false, user: false };
  return { ...q.context, session: out };
}

/**
 * Evaluates a Cedar request. Never throws for a decision: an unknown principal or user is a
 * deny with its `verdict:*` reason, and an engine failure is a deny.
 * @param now the instant the request was received, for the session fields the caller left out
 * @throws EntityConflictError when `entities` redefines an entity of Verdict's store, or makes
 *   an entity Verdict does not hold a member of one it holds
 */
export function evaluateAuthorize(ps: PolicySet, q: AuthorizeQuestion, now: Date): Evaluation {
  const start = process.hrtime.bigint();
  for (const e of q.entities) if (ps.entities.get(e.uid)) throw new EntityConflictError(e.uid);
  const context = withVerdictSession(ps.schema, q, now);
  const session = context.session as Record<string, unknown> | undefined;
  const sessionUser = session && typeof session === "object" && session.user !== undefined ? entityRef(session.user) : null;
  const request: CedarRequest = { principal: q.principal, action: q.action, resource: q.resource, context, entities: [] };
  const input = (q.context as { input?: unknown }).input;
  const task = (session as { task?: { id: string; kind?: string } } | undefined)?.task ?? null;
  const base = {
    kind: "authorize" as const,
    obligations: [],
    policySetVersion: ps.version,
    ...mcpParts(q, sessionUser),
    action: uidText(q.action),
    arguments: input ?? null,
    task: task && typeof task.id === "string" ? task : null,
    request,
  };

  // Who asks, and for whom, must be known to Verdict (src/pdp/checks.ts), as on tools/call.
  const unknown = checkPrincipal(ps, q.principal) ?? checkSessionUser(ps, sessionUser);
  if (unknown) {
    request.entities = q.entities;
    return { ...base, decision: "deny", reasons: [unknown.reason], errors: [], message: unknown.message, evaluationMicros: microsSince(start) };
  }
  for (const e of q.entities) for (const p of e.parents) if (ps.entities.get(p)) throw new EntityConflictError(e.uid, p);

  const uids: EntityUid[] = [q.principal, q.resource];
  collectUids(context, uids);
  // What supplied entities name: a held entity they point to comes with its own parents.
  for (const e of q.entities) collectUids([e.attrs, e.tags ?? null], uids);
  const supplied = new Set(q.entities.map((e) => uidKey(e.uid)));
  request.entities = [...q.entities, ...ps.entities.slice(uids).filter((e) => !supplied.has(uidKey(e.uid)))];
  // Task memory is read from the log on tools/call only: here a caller's `history` is used as
  // given, and a missing one is a first call's for the engine (not recorded; docs/task-memory.md).
  const answer = ps.engine.authorize(takesMcpSession(ps.schema, q.action) ? engineRequest(request) : request);
  return {
    ...base,
    decision: answer.decision,
    reasons: answer.reasons,
    errors: answer.errors,
    message: explain(answer),
    evaluationMicros: microsSince(start),
  };
}
