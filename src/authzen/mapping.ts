/**
 * How an AuthZEN evaluation (subject, action, resource, context) becomes a Verdict decision.
 *
 * - The MCP binding (AuthZEN MCP profile draft): `action.name` `tools/call` with a resource of
 *   type `tool` (or `mcp-tool`) is a tool call, decided by `evaluateToolCall` exactly as
 *   `POST /v1/mcp/tools/call` decides it (known agent, user, server and tool; arguments checked
 *   against the pinned inputSchema; then Cedar).
 * - Anything else is a Cedar request on the active policy set: `type` names a Cedar entity type
 *   (see {@link resolveEntityType}), `id` the entity id, `properties` the attributes of an entity
 *   Verdict does not hold, `action.name` the action id, `context` the context. It is decided by
 *   `evaluateAuthorize`, so the subject (the principal) must be an entity of the policy set's
 *   store: one Verdict does not hold is denied (`verdict:unknown-agent`, `verdict:unknown-user`,
 *   `verdict:unknown-principal`) whatever `properties` it claims, and so is a
 *   `context.session.user` Verdict does not hold.
 */
import { z } from "zod";
import { boundedString, ID_MAX, KIND_MAX } from "../contract/limits.js";
import { Task } from "../contract/decision.js";
import { REASONS } from "../contract/reasons.js";
import type { CedarType, Entity, EntityUid, SchemaJson } from "../cedar/types.js";
import { fromZod, VerdictError } from "../http/errors.js";
import { evaluateAuthorize } from "../pdp/authorize.js";
import { microsSince, uidText, type Evaluation } from "../pdp/evaluation.js";
import { evaluateToolCall, type ToolCallQuestion } from "../pdp/tool-call.js";
import type { PolicySet } from "../policy/policy-set.js";
import type { Evaluation4 } from "./wire.js";

/** `action.name` of the MCP binding. */
export const MCP_TOOLS_CALL = "tools/call";
/** Resource types of the MCP binding: `tool`, and `mcp-tool` as an early profile draft spelled it. */
export const MCP_TOOL_TYPES: ReadonlySet<string> = new Set(["tool", "mcp-tool"]);

const qualify = (ns: string, name: string) => (name.includes("::") || ns === "" ? name : `${ns}::${name}`);
const unqualified = (name: string) => name.slice(name.lastIndexOf("::") + 2);

/**
 * Resolves an AuthZEN `type` to a Cedar entity type of the schema: the type itself when it is
 * a declared (qualified) Cedar type, such as `Todo::User`; otherwise the one declared entity
 * type whose name without namespace equals it ignoring case (`user` → `Todo::User`).
 * @returns the Cedar entity type, or null when none or several match
 */
export function resolveEntityType(schema: SchemaJson, type: string): string | null {
  const declared = Object.entries(schema).flatMap(([ns, def]) => Object.keys(def.entityTypes ?? {}).map((t) => qualify(ns, t)));
  if (declared.includes(type)) return type;
  const matches = declared.filter((t) => unqualified(t).toLowerCase() === type.toLowerCase());
  return matches.length === 1 ? matches[0]! : null;
}

/**
 * Resolves `action.name` to the Cedar action uid `<Namespace>::Action::"<name>"` whose
 * `appliesTo` admits the principal and resource types.
 * @returns the action uid, or null when no (or more than one) declared action fits
 */
export function resolveAction(schema: SchemaJson, name: string, principalType: string, resourceType: string): EntityUid | null {
  const fits: EntityUid[] = [];
  for (const [ns, def] of Object.entries(schema)) {
    const action = def.actions?.[name];
    if (!action?.appliesTo) continue;
    const principals = action.appliesTo.principalTypes.map((t) => qualify(ns, t));
    const resources = action.appliesTo.resourceTypes.map((t) => qualify(ns, t));
    if (principals.includes(principalType) && resources.includes(resourceType)) fits.push({ type: qualify(ns, "Action"), id: name });
  }
  return fits.length === 1 ? fits[0]! : null;
}

const namespaceOf = (qualified: string) => (qualified.includes("::") ? qualified.slice(0, qualified.lastIndexOf("::")) : "");

/**
 * The attribute names a record type declares, following common-type references; null when the
 * type cannot be resolved here (then nothing is filtered and Cedar judges the value).
 */
function declaredKeys(schema: SchemaJson, ns: string, type: CedarType | undefined, depth = 0): Set<string> | null {
  if (!type) return new Set();
  if (type.type === "Record") return new Set(Object.keys(type.attributes ?? {}));
  const ref = type.type === "EntityOrCommon" ? type.name : type.type;
  if (!ref || depth > 8) return null;
  const common = schema[namespaceOf(qualify(ns, ref))]?.commonTypes?.[unqualified(ref)];
  return common ? declaredKeys(schema, namespaceOf(qualify(ns, ref)), common, depth + 1) : null;
}

function keep(value: Record<string, unknown>, keys: Set<string> | null): Record<string, unknown> {
  if (!keys) return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => keys.has(k)));
}

/**
 * Evaluates one AuthZEN evaluation against a policy set. Never throws for a decision: unknown
 * types or actions, a subject or user Verdict does not hold, and Cedar errors are denies with
 * reasons (`verdict:unknown-type`, `verdict:unknown-action`, `verdict:unknown-agent`, ...).
 * @param now the instant the request was received
 * @param endedTasks the ended tasks among those the evaluations name (`src/tasks/ends.ts`): a
 *   `tools/call` naming one is denied `verdict:task-ended`, as on `POST /v1/mcp/tools/call`
 * @throws VerdictError `bad_request` when an MCP binding request lacks the server or the agent
 */
export function evaluateAuthzen(ps: PolicySet, e: Evaluation4, now: Date, endedTasks?: ReadonlySet<string>): Evaluation {
  if (isMcpToolCall(e)) {
    const q = toToolCall(e);
    return evaluateToolCall(ps, q, now, undefined, undefined, undefined, q.task !== undefined && (endedTasks?.has(q.task.id) ?? false));
  }
  return evaluateCedar(ps, e, now);
}

/** Whether an evaluation is a `tools/call` of AuthZEN's MCP binding. */
function isMcpToolCall(e: Evaluation4): boolean {
  return e.action.name === MCP_TOOLS_CALL && MCP_TOOL_TYPES.has(e.resource.type);
}

/**
 * The task id an MCP-binding `tools/call` evaluation names, if any (none for other evaluations,
 * and for one malformed enough to be refused when it is evaluated).
 */
export function mcpTaskId(e: Evaluation4): string | undefined {
  if (!isMcpToolCall(e)) return undefined;
  try {
    return toToolCall(e).task?.id;
  } catch {
    return undefined;
  }
}

function evaluateCedar(ps: PolicySet, e: Evaluation4, now: Date): Evaluation {
  const start = process.hrtime.bigint();
  const principalType = resolveEntityType(ps.schema, e.subject.type);
  const resourceType = resolveEntityType(ps.schema, e.resource.type);
  const action = principalType && resourceType ? resolveAction(ps.schema, e.action.name, principalType, resourceType) : null;
  if (!principalType || !resourceType || !action) {
    const unknownType = !principalType ? e.subject.type : !resourceType ? e.resource.type : null;
    const principal = { type: principalType ?? e.subject.type, id: e.subject.id };
    const resource = { type: resourceType ?? e.resource.type, id: e.resource.id };
    const actionUid = { type: "Action", id: e.action.name };
    return {
      kind: "authorize",
      decision: "deny",
      reasons: [unknownType !== null ? REASONS.unknownType : REASONS.unknownAction],
      errors: [],
      obligations: [],
      message:
        unknownType !== null
          ? `denied: AuthZEN type ${JSON.stringify(unknownType)} names no single entity type of the policy set's schema`
          : `denied: no action ${JSON.stringify(e.action.name)} of the schema applies to ${principalType} and ${resourceType}`,
      policySetVersion: ps.version,
      agent: uidText(principal),
      user: null,
      server: uidText(resource),
      tool: e.action.name,
      action: uidText(actionUid),
      arguments: null,
      task: null,
      request: { principal, action: actionUid, resource, context: e.context ?? {}, entities: [] },
      evaluationMicros: microsSince(start),
    };
  }

  const principal = { type: principalType, id: e.subject.id };
  const resource = { type: resourceType, id: e.resource.id };
  // Verdict is the authority for the entities it holds: the PEP's properties describe only
  // entities Verdict does not know (such as a todo and its owner).
  const entities: Entity[] = [];
  for (const [uid, properties] of [
    [principal, e.subject.properties],
    [resource, e.resource.properties],
  ] as const) {
    if (!properties || ps.entities.get(uid)) continue;
    const shape = (ps.schema[namespaceOf(uid.type)]?.entityTypes[unqualified(uid.type)] as { shape?: CedarType } | undefined)?.shape;
    entities.push({ uid, attrs: keep(properties, declaredKeys(ps.schema, namespaceOf(uid.type), shape)), parents: [] });
  }
  const actionDef = ps.schema[namespaceOf(action.type)]?.actions[action.id];
  const context = keep(e.context ?? {}, declaredKeys(ps.schema, namespaceOf(action.type), actionDef?.appliesTo?.context));
  return evaluateAuthorize(ps, { principal, action, resource, context, entities }, now);
}

const idRef = z.union([boundedString(ID_MAX), z.object({ id: boundedString(ID_MAX) }).transform((o) => o.id)]);
/** What the MCP binding reads from `context`. */
const McpContext = z.object({
  agent: idRef.optional(),
  user: idRef.optional(),
  task: Task.optional(),
  client: z.union([boundedString(KIND_MAX), z.object({ name: boundedString(KIND_MAX) }).transform((o) => o.name)]).optional(),
});
const McpResourceProperties = z.object({
  server: boundedString(ID_MAX).optional(),
  arguments: z.record(z.string(), z.unknown()).default({}),
});

/**
 * Maps an MCP binding evaluation onto Verdict's tool call: the tool is `resource.id` (or
 * `<server>/<tool>`), the server `resource.properties.server`, the arguments
 * `resource.properties.arguments`; a subject of type `agent` is the agent (the user, if any, in
 * `context.user`), a subject of type `user` is the user (the agent then in `context.agent`).
 * `context.task` and `context.client` are the task and MCP client.
 * @throws VerdictError `bad_request` naming what is missing or malformed
 */
function toToolCall(e: Evaluation4): ToolCallQuestion {
  const props = McpResourceProperties.safeParse(e.resource.properties ?? {});
  if (!props.success) throw fromZod(props.error, "resource.properties");
  const ctx = McpContext.safeParse(e.context ?? {});
  if (!ctx.success) throw fromZod(ctx.error, "context");
  let server = props.data.server;
  let tool = e.resource.id;
  const slash = tool.indexOf("/");
  if (server === undefined && slash > 0) {
    server = tool.slice(0, slash);
    tool = tool.slice(slash + 1);
  }
  if (server === undefined) {
    throw new VerdictError("bad_request", 'MCP binding: the server is required (resource.properties.server, or resource.id "<server>/<tool>")');
  }
  const subjectType = e.subject.type.toLowerCase();
  let agent: string | undefined;
  let user: string | undefined;
  if (subjectType === "agent") {
    agent = e.subject.id;
    user = ctx.data.user;
  } else if (subjectType === "user") {
    user = e.subject.id;
    agent = ctx.data.agent;
  }
  if (agent === undefined) {
    throw new VerdictError("bad_request", 'MCP binding: the agent is required (a subject of type "agent", or context.agent with a subject of type "user")');
  }
  return {
    agent,
    user,
    server,
    tool,
    arguments: props.data.arguments,
    task: ctx.data.task,
    client: ctx.data.client,
  };
}
