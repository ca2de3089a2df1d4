/**
 * `POST /v1/authorize`: any Cedar request, answered by the active policy set. The request's
 * entities join the slice Verdict keeps for the principal, the resource and any entity the
 * context names; a request may not redefine an entity Verdict already holds.
 */
import type { CedarRequest, Entity, EntityUid } from "../engine/cedar.js";
import type { PolicySet } from "../policy-set/load.js";
import { uidKey } from "../policy-set/entity-store.js";
import { microsSince, uidText, type Evaluation } from "./evaluation.js";
import { explain } from "./tool-call.js";

/** A Cedar request as validated from the wire. */
export interface AuthorizeQuestion {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, unknown>;
  entities: Entity[];
}

/** Thrown when a request's entities conflict with the entities Verdict holds. */
export class EntityConflictError extends Error {
  constructor(readonly uid: EntityUid) {
    super(`entity ${uidText(uid)} is managed by Verdict and cannot be supplied in a request`);
  }
}

function collectUids(value: unknown, out: EntityUid[], depth = 0): void {
  if (depth > 32 || value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    for (const v of value) collectUids(v, out, depth + 1);
    return;
  }
  const obj = value as Record<string, unknown>;
  const escaped = obj.__entity as EntityUid | undefined;
  if (escaped && typeof escaped.type === "string" && typeof escaped.id === "string") {
    out.push(escaped);
    return;
  }
  for (const v of Object.values(obj)) collectUids(v, out, depth + 1);
}

function mcpParts(q: AuthorizeQuestion): { agent: string; server: string; tool: string; user: string | null } {
  const agent = q.principal.type === "Mcp::Agent" ? q.principal.id : uidText(q.principal);
  const server = q.resource.type === "Mcp::Server" ? q.resource.id : uidText(q.resource);
  const slash = q.action.id.indexOf("/");
  const tool = q.action.type === "Mcp::Action" && slash > 0 ? q.action.id.slice(slash + 1) : q.action.id;
  const session = q.context.session as { user?: { __entity?: EntityUid } } | undefined;
  const user = session?.user?.__entity?.type === "Mcp::User" ? session.user.__entity.id : null;
  return { agent, server, tool, user };
}

/**
 * `/v1/authorize` carries no tokens, so nothing in it is proven: `context.session.verified` is
 * set to false for both parties, whatever the caller sent (a caller cannot claim a proof).
 */
function withUnverifiedSession(context: Record<string, unknown>): Record<string, unknown> {
  const session = context.session;
  if (session === null || typeof session !== "object" || Array.isArray(session)) return context;
  return { ...context, session: { ...session, verified: { agent: false, user: false } } };
}

/**
 * Evaluates a Cedar request. Never throws for a decision; an engine failure is a deny.
 * @throws EntityConflictError when `entities` redefines an entity of Verdict's store
 */
export function evaluateAuthorize(ps: PolicySet, q: AuthorizeQuestion): Evaluation {
  const start = process.hrtime.bigint();
  for (const e of q.entities) if (ps.entities.get(e.uid)) throw new EntityConflictError(e.uid);
  const uids: EntityUid[] = [q.principal, q.resource];
  collectUids(q.context, uids);
  for (const e of q.entities) for (const p of e.parents) uids.push(p);
  const supplied = new Set(q.entities.map((e) => uidKey(e.uid)));
  const entities = [...q.entities, ...ps.entities.slice(uids).filter((e) => !supplied.has(uidKey(e.uid)))];
  const context = withUnverifiedSession(q.context);
  const request: CedarRequest = { principal: q.principal, action: q.action, resource: q.resource, context, entities };
  const answer = ps.engine.authorize(request);
  const parts = mcpParts(q);
  const input = (q.context as { input?: unknown }).input;
  const task = (q.context.session as { task?: { id: string; kind?: string } } | undefined)?.task ?? null;
  return {
    kind: "authorize",
    decision: answer.decision,
    reasons: answer.reasons,
    errors: answer.errors,
    obligations: [],
    message: explain(answer),
    policySetVersion: ps.version,
    ...parts,
    action: uidText(q.action),
    arguments: input ?? null,
    task: task && typeof task.id === "string" ? task : null,
    request,
    evaluationMicros: microsSince(start),
  };
}
