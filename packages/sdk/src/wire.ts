/**
 * The wire contract of Verdict's decision API (DESIGN.md "Wire contract"), as zod schemas: the
 * bodies and answers of `POST /v1/mcp/tools/call`, `/v1/mcp/tools/list`, `/v1/authorize`
 * (and `/batch`), the page of `GET /v1/decisions` and the error body of every non-200. They are
 * defined here, once: the SDK types its calls and checks Verdict's answers with them, and the
 * server validates its request bodies with the same schemas (re-exported by its `src/contract/`).
 * This module depends on zod and `limits.ts` only.
 */
import { z } from "zod";
import { BATCH_MAX, boundedString, ENTITIES_MAX, ID_MAX, isCleanString, KIND_MAX, PARENTS_MAX, TOOLS_MAX, TYPE_MAX } from "./limits.js";

/** An id or name that is recorded (and indexed): at most `ID_MAX` characters, see `limits.ts`. */
const id = boundedString(ID_MAX);
/** A short label (task kind, MCP client name): at most `KIND_MAX` characters. */
const label = boundedString(KIND_MAX);

/** A task the agent is working on (`context.session.task`). */
export const Task = z.object({ id, kind: label.optional() });
export type Task = z.infer<typeof Task>;

/**
 * A bearer token (a compact JWS) the gateway passes for Verdict to verify. Verdict never
 * returns, logs or stores it; the decision record keeps only its SHA-256.
 */
const Token = z.string().min(1).max(16_384);

/** Header that may carry the agent's token instead of the body's `agentToken`. */
export const AGENT_TOKEN_HEADER = "X-Verdict-Agent-Token";
/** Header that may carry the user's token instead of the body's `userToken`. */
export const USER_TOKEN_HEADER = "X-Verdict-User-Token";

/**
 * Identity tokens a decision request may carry (an extension of DESIGN.md's contract; also
 * accepted as the headers `X-Verdict-Agent-Token` and `X-Verdict-User-Token`).
 * `agentToken`: the agent's own token (OIDC client-credentials JWT, or a SPIFFE JWT-SVID).
 * `userToken`: the user's OIDC access token, or an RFC 8693 exchanged token whose `act` claim
 * names the agent (nested `act`: the delegation chain).
 */
const IdentityTokens = {
  agentToken: Token.optional(),
  userToken: Token.optional(),
};

/**
 * `POST /v1/mcp/tools/call` body: the gateway's per-call question. `agent` may be left out
 * when an agent token is given (the token names the agent); when both are given they must agree.
 */
export const ToolCallRequest = z.object({
  agent: id.optional(),
  user: id.optional(),
  server: id,
  tool: id,
  arguments: z.record(z.string(), z.unknown()).default({}),
  task: Task.optional(),
  /** MCP `clientInfo.name` of the client the gateway serves, when known. */
  client: boundedString(KIND_MAX, 0).optional(),
  ...IdentityTokens,
  /** Ask for a per-call credential (a Transaction Token bound to this call) when allowed. */
  credential: z.boolean().optional(),
});
export type ToolCallRequest = z.input<typeof ToolCallRequest>;

/** An MCP tool object as in a `tools/list` result (MCP 2025-06-18 `Tool`); other keys pass through. */
export const McpTool = z.looseObject({ name: id, inputSchema: z.record(z.string(), z.unknown()).optional() });
export type McpTool = z.infer<typeof McpTool>;

/** `POST /v1/mcp/tools/list` body. */
export const ToolListRequest = z.object({
  agent: id.optional(),
  user: id.optional(),
  ...IdentityTokens,
  server: id,
  task: Task.optional(),
  client: boundedString(KIND_MAX, 0).optional(),
  tools: z.array(McpTool).max(TOOLS_MAX),
});
export type ToolListRequest = z.input<typeof ToolListRequest>;

/** `POST /v1/mcp/tools/list` answer: the tools the agent may see, and why the others are hidden. */
export const ToolListResponse = z.object({
  tools: z.array(McpTool),
  hidden: z.array(z.object({ name: z.string(), reason: z.string() })),
  policySetVersion: z.string(),
});
export type ToolListResponse = z.infer<typeof ToolListResponse>;

/**
 * A Cedar entity uid (`{"type": "Mcp::Agent", "id": "incident-bot"}`): a type of at most
 * `TYPE_MAX` characters, an id of at most `ID_MAX` (Cedar admits the empty id).
 */
export const EntityUid = z.object({ type: boundedString(TYPE_MAX), id: boundedString(ID_MAX, 0) });
export type EntityUid = z.infer<typeof EntityUid>;

/** A Cedar entity in Cedar's entity JSON format. */
export const Entity = z.object({
  uid: EntityUid,
  attrs: z.record(z.string(), z.unknown()).default({}),
  parents: z.array(EntityUid).max(PARENTS_MAX).default([]),
  tags: z.record(z.string(), z.unknown()).optional(),
});

/**
 * The parts of a Cedar `context.session` that Verdict records in indexed columns (the user and
 * the task), checked against the same maxima as tools/call's fields. Anything else in the
 * context is the caller's JSON, bounded only by the body size. Issues carry the field's path
 * (`context.session.task.id`), so the 400 names it.
 */
function checkSession(context: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const session = context.session;
  if (session === null || typeof session !== "object" || Array.isArray(session)) return;
  const s = session as { user?: unknown; task?: unknown };
  const check = (value: unknown, max: number, path: (string | number)[]) => {
    if (typeof value !== "string") return;
    if (value.length > max) ctx.addIssue({ code: "custom", path: ["session", ...path], message: `at most ${max} characters` });
    else if (!isCleanString(value)) ctx.addIssue({ code: "custom", path: ["session", ...path], message: "no control characters or lone surrogates" });
  };
  const entity = (s.user as { __entity?: { type?: unknown; id?: unknown } } | undefined)?.__entity;
  if (entity && typeof entity === "object") {
    check(entity.type, TYPE_MAX, ["user", "__entity", "type"]);
    check(entity.id, ID_MAX, ["user", "__entity", "id"]);
  }
  const task = s.task as { id?: unknown; kind?: unknown } | undefined;
  if (task && typeof task === "object") {
    check(task.id, ID_MAX, ["task", "id"]);
    check(task.kind, KIND_MAX, ["task", "kind"]);
  }
}

/** A Cedar context: any JSON object, with `session.user` and `session.task` bounded (see `checkSession`). */
export const CedarContext = z.record(z.string(), z.unknown()).superRefine(checkSession);

/** `POST /v1/authorize` body: any Cedar request. */
export const AuthorizeRequest = z.object({
  principal: EntityUid,
  action: EntityUid,
  resource: EntityUid,
  context: CedarContext.default({}),
  entities: z.array(Entity).max(ENTITIES_MAX).default([]),
});
export type AuthorizeRequest = z.input<typeof AuthorizeRequest>;

/** `POST /v1/authorize/batch` body. */
export const AuthorizeBatchRequest = z.object({ requests: z.array(AuthorizeRequest).min(1).max(BATCH_MAX) });
export type AuthorizeBatchRequest = z.input<typeof AuthorizeBatchRequest>;

/**
 * A per-call credential: a JWT in the shape of the OAuth Transaction Tokens draft
 * (draft-ietf-oauth-transaction-tokens, header `typ: txntoken+jwt`), signed by Verdict, bound to
 * one server, one tool, the SHA-256 of the canonical arguments and the task; it expires within
 * 60 s. An MCP server checks it with `verifyCallCredential` (`credential.ts`).
 */
export const CallCredential = z.object({
  token: z.string(),
  /** `urn:ietf:params:oauth:token-type:txn_token` */
  tokenType: z.literal("urn:ietf:params:oauth:token-type:txn_token"),
  jti: z.string(),
  /** ISO 8601 instant of the token's `exp`. */
  expiresAt: z.string(),
});
export type CallCredential = z.infer<typeof CallCredential>;

/** An error kept with a decision; `policyId` is null for errors that concern the whole request. */
export const DecisionError = z.object({ policyId: z.string().nullable(), message: z.string() });

/** The answer to every decision request (`tools/call`, `authorize`). A deny is a 200. */
export const DecisionResponse = z.object({
  decision: z.enum(["allow", "deny"]),
  decisionId: z.string(),
  policySetVersion: z.string(),
  /** Determining policy ids; `verdict:<check>` when Verdict's own checks decided (unknown tool, bad arguments). */
  reasons: z.array(z.string()),
  errors: z.array(DecisionError),
  obligations: z.array(z.unknown()),
  /** Human-readable explanation of the decision (an extension of DESIGN.md's contract). */
  message: z.string().optional(),
  /** The per-call credential, when the request asked for one and the call is allowed (extension). */
  credential: CallCredential.optional(),
});
export type DecisionResponse = z.infer<typeof DecisionResponse>;

export const AuthorizeBatchResponse = z.object({ results: z.array(DecisionResponse) });
export type AuthorizeBatchResponse = z.infer<typeof AuthorizeBatchResponse>;

/**
 * One party of a decision as recorded: its Cedar id, whether a token proved it (`verified`), for
 * a verified party the token's issuer, subject and groups, and the SHA-256 of the token presented
 * for it, verified or refused (never the token itself).
 */
export const RecordedParty = z.object({
  id: z.string(),
  verified: z.boolean(),
  issuer: z.string().optional(),
  subject: z.string().optional(),
  groups: z.array(z.string()).optional(),
  tokenSha256: z.string().optional(),
});
export type RecordedParty = z.infer<typeof RecordedParty>;

/** The agent and the user (null when the agent acts for nobody) of a recorded decision. */
export const RecordedIdentity = z.object({ agent: RecordedParty, user: RecordedParty.nullable() });
export type RecordedIdentity = z.infer<typeof RecordedIdentity>;

/** One actor of a delegation chain (RFC 8693 §4.1 `act`): its subject and, when given, issuer. */
export const DelegationActor = z.object({ sub: z.string(), iss: z.string().optional() });
export type DelegationActor = z.infer<typeof DelegationActor>;

/**
 * What a record of the decision log is: a decision (`tools/call`, `authorize`), or an event of a
 * task's lifecycle that joins the same hash chain (`task/end`: `POST /v1/tasks/{taskId}/end`;
 * its `decision` is `deny`, what every later call of the task gets, with the reason
 * `verdict:task-ended`; `agent`, `server`, `tool` and `action` are empty, `caller` names the key
 * that ended it), or of an approval of one exact call (`approval/request`: a call denied by
 * approvable forbids asked for one, `decision` `deny`, `reasons` those forbids;
 * `approval/approve` and `approval/deny`: a person decided it, `decision` `allow` or `deny`; each
 * with the call's agent, user, tool, arguments and task, and the approval in `obligations`).
 * These kinds extend DESIGN.md's contract.
 */
export const RecordKind = z.enum(["tools/call", "authorize", "task/end", "approval/request", "approval/approve", "approval/deny"]);
export type RecordKind = z.infer<typeof RecordKind>;

/** One recorded decision (`GET /v1/decisions` items). */
export const DecisionRecord = z.object({
  id: z.string(),
  time: z.string(),
  kind: RecordKind,
  agent: z.string(),
  user: z.string().nullable(),
  /** The delegation chain from the user token's `act` claim, outermost (current) actor first. */
  delegation: z.array(DelegationActor),
  server: z.string(),
  tool: z.string(),
  action: z.string(),
  arguments: z.unknown(),
  argumentsSha256: z.string(),
  task: Task.nullable(),
  decision: z.enum(["allow", "deny"]),
  reasons: z.array(z.string()),
  errors: z.array(DecisionError),
  obligations: z.array(z.unknown()),
  message: z.string().nullable(),
  policySetVersion: z.string(),
  caller: z.string().nullable(),
  /** How the agent and the user were identified (null for `/v1/authorize`). Extension. */
  identity: RecordedIdentity.nullable(),
  /** The `jti` of the credential minted with this decision, if any. Extension. */
  credentialJti: z.string().nullable(),
  requestId: z.string().nullable(),
  evaluationMicros: z.number(),
  request: z.unknown(),
  /**
   * The W3C trace id (32 lowercase hex digits) of the decision's `verdict.decide` span, or of the
   * caller's `traceparent` when Verdict exports no traces; null: neither (docs/tracing.md). Extension.
   */
  traceId: z.string().nullable().optional(),
  stream: z.string(),
  seq: z.number(),
  prevHash: z.string().nullable(),
  hash: z.string(),
});
export type DecisionRecord = z.infer<typeof DecisionRecord>;

/**
 * The filters of the decision search, shared by `GET /v1/decisions`, `/v1/decisions/export` and
 * `/v1/decisions/stats`. `since`/`until` are ISO 8601 instants; `until` is exclusive.
 * `caller`, `requestId`, `traceId`, `kind` and `policySetVersion` extend DESIGN.md's list. Argument content
 * is searched with `arg.<path>=<substring>` query parameters, which this object does not list
 * because their names vary.
 */
export const DecisionFilters = z.object({
  agent: z.string().optional(),
  user: z.string().optional(),
  server: z.string().optional(),
  tool: z.string().optional(),
  decision: z.enum(["allow", "deny"]).optional(),
  task: z.string().optional(),
  policy: z.string().optional(),
  caller: z.string().optional(),
  requestId: z.string().optional(),
  /** Decisions of one W3C trace (32 hex digits), as recorded in `traceId`. */
  traceId: z.string().optional(),
  kind: RecordKind.optional(),
  policySetVersion: z.string().optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
});
export type DecisionFilters = z.input<typeof DecisionFilters>;

/** `GET /v1/decisions` query: the filters, a page size and a cursor. */
export const DecisionQuery = DecisionFilters.extend({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  cursor: z.string().optional(),
});
export type DecisionQuery = z.input<typeof DecisionQuery>;

/** `GET /v1/decisions` answer: recorded decisions, newest first, and the cursor of the next page (null: no more). */
export const DecisionPage = z.object({ decisions: z.array(DecisionRecord), nextCursor: z.string().nullable() });
export type DecisionPage = z.infer<typeof DecisionPage>;

/**
 * `POST /v1/tasks/{taskId}/end` body (optional): why the task ended, recorded in the `task/end`
 * record's `message`. The task id itself is the path's (at most `ID_MAX` characters).
 */
export const TaskEndRequest = z.object({ reason: boundedString(1_000, 0).optional() }).strict();
export type TaskEndRequest = z.infer<typeof TaskEndRequest>;

/**
 * `POST /v1/tasks/{taskId}/end` answer. `endedAt` (ISO 8601) and `recordId` are those of the
 * first end of the task: ending an ended task again changes nothing (`alreadyEnded: true`).
 * From `endedAt` on, every `tools/call` naming the task is denied `verdict:task-ended`, on every
 * replica within `TASK_END_PROPAGATION_MS`.
 */
export const TaskEndResponse = z.object({
  task: z.object({ id: z.string() }),
  endedAt: z.string(),
  recordId: z.string(),
  endedBy: z.string().nullable(),
  alreadyEnded: z.boolean(),
});
export type TaskEndResponse = z.infer<typeof TaskEndResponse>;

/** The most time, in ms, from the answer of a task's end to the first deny of its calls on any replica. */
export const TASK_END_PROPAGATION_MS = 1_000;

/** Where an approval request is in its life (`expired`: pending or approved past `expiresAt`, never used). */
export const ApprovalStatus = z.enum(["pending", "approved", "denied", "used", "expired"]);
export type ApprovalStatus = z.infer<typeof ApprovalStatus>;

/**
 * The `approval` obligation of a `tools/call` answer (DESIGN.md "Approvals bound to the exact
 * call"). On a deny: the call may be approved (`status` `pending`, or `denied` when a person
 * refused this request; asking again for the same call returns the same request until it
 * expires). On an allow: the approval this call used, once (`status` `used`, with who approved
 * it and when). Maps onto the AuthZEN Access Request and Approval Profile's requestable denial
 * (docs/approvals.md).
 */
export const ApprovalObligation = z.object({
  type: z.literal("approval"),
  id: z.string(),
  status: ApprovalStatus,
  groups: z.array(z.string()),
  /** ISO 8601: when a pending request lapses, or until when an approval may be used. */
  expiresAt: z.string(),
  approvedBy: z.string().optional(),
  approvedAt: z.string().optional(),
});
export type ApprovalObligation = z.infer<typeof ApprovalObligation>;

/**
 * An approval request for one exact call (`GET /v1/approvals/{id}`): what it binds (agent, user,
 * delegation chain, server, tool, the pinned tool definition's hash, the arguments and their
 * hash, task), why the policies ask for it (`policies`, `groups`), and where it is.
 */
export const Approval = z.object({
  id: z.string(),
  status: ApprovalStatus,
  groups: z.array(z.string()),
  policies: z.array(z.string()),
  call: z.object({
    agent: z.string(),
    user: z.string().nullable(),
    delegation: z.array(DelegationActor),
    server: z.string(),
    tool: z.string(),
    definitionSha256: z.string(),
    arguments: z.unknown(),
    argumentsSha256: z.string(),
    task: Task.nullable(),
  }),
  policySetVersion: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  decidedAt: z.string().nullable(),
  decidedBy: z.string().nullable(),
  comment: z.string().nullable(),
  usedAt: z.string().nullable(),
  /** The allowed `tools/call` decision that used it. */
  usedBy: z.string().nullable(),
  /** The `approval/request` record of the decision log. */
  requestRecordId: z.string(),
});
export type Approval = z.infer<typeof Approval>;

/** `POST /v1/approvals/{id}/approve` and `/deny` body (optional): the approver's comment. */
export const ApprovalDecisionRequest = z.object({ comment: boundedString(1_000, 0).optional() }).strict();
export type ApprovalDecisionRequest = z.infer<typeof ApprovalDecisionRequest>;

/** The error body of every non-200 answer. */
export const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;
