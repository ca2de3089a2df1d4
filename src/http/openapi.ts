/**
 * `GET /openapi.json`: an OpenAPI 3.1 description of every route, generated from the zod schemas
 * that validate the requests (`src/contract/`, `src/authzen/wire.ts`, the query schemas of
 * the route files) and describe the answers (`src/contract/responses.ts`), with zod 4's JSON
 * Schema output (draft 2020-12, the dialect of OpenAPI 3.1). Nothing here restates a shape by
 * hand: a field added to a schema appears in the document. Who may call an operation comes from
 * the route → role table of `src/http/key-auth.ts` (`rolesFor`), so the document cannot say
 * otherwise than the middleware enforces. A new route is one row of {@link OPERATIONS};
 * `test/http/openapi.test.ts` fails while a route the app serves has no row.
 */
import { Hono } from "hono";
import { VERSION } from "../paths.js";
import { z } from "zod";
import { rolesFor } from "./key-auth.js";
import { VerifyQuery } from "../audit/routes.js";
import {
  Configuration,
  EvaluationRequest,
  EvaluationResponse,
  EvaluationsRequest,
  EvaluationsResponse,
} from "../authzen/wire.js";
import {
  AuditDecision,
  HealthResponse,
  JwksResponse,
  OpenApiDocument,
  PolicySetActivated,
  PolicySetDetail,
  PolicySetList,
  PolicySetPublished,
  PolicyTexts,
  ReadinessResponse,
  ReplayReport,
  SigningKeyRotated,
  ToolDriftList,
  VerifyReport,
  VersionDiff,
} from "../contract/responses.js";
import {
  AuthorizeBatchRequest,
  AuthorizeBatchResponse,
  AuthorizeRequest,
  DecisionResponse,
  ErrorBody,
  ToolCallRequest,
  ToolListRequest,
  ToolListResponse,
  AGENT_TOKEN_HEADER,
  USER_TOKEN_HEADER,
} from "../contract/decision.js";
import {
  DecisionExportQuery,
  DecisionPage,
  DecisionQuery,
  DecisionRecord,
  DecisionStats,
  DecisionStatsQuery,
} from "../contract/decision-log.js";
import { LinkRequest, PublishRequest, ReplayRequest, TemplateRequest } from "../contract/policy-versions.js";
import { ApiKeyCreated, ApiKeyCreateRequest, ApiKeyInfo, ApiKeyList } from "../contract/api-keys.js";
import { DiffQuery, PolicyTextQuery } from "../policy-versions/routes.js";
import { DriftQuery } from "../catalog/drift-routes.js";
import { REQUEST_ID_MAX } from "../contract/limits.js";
import { TaskEndRequest, TaskEndResponse, TaskQuery, TaskView } from "../contract/tasks.js";
import { Approval, ApprovalDecisionRequest, ApprovalPage, ApprovalQuery } from "../contract/approvals.js";
import type { AppEnv } from "./deps.js";
import { REQUEST_ID_HEADER } from "./request-id.js";

/** A JSON Schema (draft 2020-12) object, as OpenAPI 3.1 embeds it. */
export type JsonSchema = Record<string, unknown>;

/** One answer of an operation: a description and, per media type, a zod schema (JSON) or a JSON Schema (text). */
export interface ResponseSpec {
  description: string;
  /** A JSON answer's schema. */
  json?: z.ZodType;
  /** Other media types (`text/csv`, `text/html`) and their JSON Schema, a string in each case here. */
  other?: Record<string, JsonSchema>;
  /** Response headers (name → description). */
  headers?: Record<string, string>;
}

/** A request header an operation reads. */
export interface HeaderSpec {
  name: string;
  description: string;
  schema: JsonSchema;
}

/** One row of the route table. */
export interface OperationSpec {
  method: "get" | "post" | "delete";
  /** The path as hono registers it (`/v1/decisions/:id`, `/ui/*`). */
  path: string;
  summary: string;
  tags: readonly string[];
  /** The JSON request body's schema (as `readBody` validates it). */
  body?: z.ZodObject;
  /** The query's schema (its properties become `in: query` parameters). */
  query?: z.ZodObject;
  /** Query parameters with patterned names, described in words (`arg.<path>`). */
  extraQuery?: ReadonlyArray<{ name: string; description: string }>;
  /** Request headers the operation reads (besides `Authorization` and `X-Request-ID`). */
  headers?: readonly HeaderSpec[];
  /** Descriptions of the path parameters, by name. */
  params?: Record<string, string>;
  /** Answers other than the common errors, by status. */
  responses: Record<number, ResponseSpec>;
  /** A key is optional: public, but a valid key of any role adds detail (`/readyz`). */
  optionalKey?: boolean;
  /** Error answers this operation adds to the common ones (statuses of `ERRORS`, e.g. 409). */
  errors?: readonly number[];
}

/** W3C Trace Context: the `verdict.decide` span is a child of the caller's (docs/tracing.md). */
const TRACE: HeaderSpec[] = [
  { name: "traceparent", description: "W3C Trace Context: the decision's span joins this trace", schema: { type: "string" } },
  { name: "tracestate", description: "W3C Trace Context vendor state, passed with traceparent", schema: { type: "string" } },
];
/** The identity tokens of tools/call and tools/list, as headers instead of body fields. */
const TOKENS: HeaderSpec[] = [
  { name: AGENT_TOKEN_HEADER, description: "the agent's token (instead of the body's agentToken)", schema: { type: "string", minLength: 1, maxLength: 16_384 } },
  { name: USER_TOKEN_HEADER, description: "the user's token (instead of the body's userToken)", schema: { type: "string", minLength: 1, maxLength: 16_384 } },
];
/** Every route takes the caller's request id, echoes it, and refuses a malformed one with a 400. */
const REQUEST_ID: JsonSchema = {
  name: REQUEST_ID_HEADER,
  in: "header",
  required: false,
  description: "the caller's id for the request, echoed and recorded; printable ASCII without space (else a 400); absent: Verdict makes one",
  schema: { type: "string", minLength: 1, maxLength: REQUEST_ID_MAX, pattern: "^[\\x21-\\x7e]+$" },
};
const search = [{ name: "arg.<path>", description: "argument-content filter: the recorded argument at `<path>` (keys or indices separated by `.`) contains this text" }];
const json = (description: string, schema: z.ZodType): ResponseSpec => ({ description, json: schema });
const text: JsonSchema = { type: "string" };

/**
 * Every route the app serves. Order is the document's order. The common error answers (400, 401,
 * 403, 404, 413, 500, 503) are added by {@link openApiDocument} where they apply.
 */
export const OPERATIONS: OperationSpec[] = [
  // Health and public metadata.
  { method: "get", path: "/healthz", summary: "Liveness: the process is up", tags: ["health"], responses: { 200: json("up", HealthResponse) } },
  {
    method: "get",
    path: "/readyz",
    summary: "Readiness: a policy set is loaded and the database answers (details with any valid key)",
    tags: ["health"],
    optionalKey: true,
    responses: { 200: json("ready", ReadinessResponse), 503: json("not ready", ReadinessResponse) },
  },
  {
    method: "get",
    path: "/.well-known/jwks.json",
    summary: "Verdict's public signing keys (RFC 7517 JWK Set), to verify per-call credentials",
    tags: ["credentials"],
    responses: { 200: json("the JWK Set", JwksResponse) },
  },
  {
    method: "get",
    path: "/.well-known/authzen-configuration",
    summary: "AuthZEN 1.0 Policy Decision Point metadata",
    tags: ["authzen"],
    responses: { 200: json("PDP metadata", Configuration) },
  },
  {
    method: "get",
    path: "/openapi.json",
    summary: "This OpenAPI 3.1 document",
    tags: ["meta"],
    responses: { 200: json("the OpenAPI document", OpenApiDocument) },
  },
  { method: "get", path: "/ui", summary: "Decision explorer (redirects to /ui/)", tags: ["explorer"], responses: { 302: { description: "to /ui/", headers: { location: "/ui/" } } } },
  {
    method: "get",
    path: "/ui/*",
    summary: "Decision explorer: its page, script and styles (no data; the page calls the API with the key pasted in)",
    tags: ["explorer"],
    params: { path: "a file of the explorer, `/` included (`vendor/uPlot.min.css`); empty: the page" },
    responses: { 200: { description: "the file", other: { "text/html": text, "text/javascript": text, "text/css": text } } },
  },

  // Decisions.
  {
    method: "post",
    path: "/v1/mcp/tools/call",
    summary: "Decide one MCP tools/call (a deny is a 200)",
    tags: ["decisions"],
    headers: [...TOKENS, ...TRACE],
    body: ToolCallRequest,
    responses: { 200: json("the decision, recorded before it is answered", DecisionResponse) },
  },
  {
    method: "post",
    path: "/v1/mcp/tools/list",
    summary: "Filter a tools/list result to the tools the agent may call",
    tags: ["decisions"],
    headers: [...TOKENS, ...TRACE],
    body: ToolListRequest,
    responses: { 200: json("the visible tools, and why the others are hidden", ToolListResponse) },
  },
  { method: "post", path: "/v1/authorize", summary: "Decide any Cedar request", tags: ["decisions"], headers: TRACE, body: AuthorizeRequest, responses: { 200: json("the decision", DecisionResponse) } },
  {
    method: "post",
    path: "/v1/authorize/batch",
    summary: "Decide several Cedar requests, in order",
    tags: ["decisions"],
    headers: TRACE,
    body: AuthorizeBatchRequest,
    responses: { 200: json("one decision per request", AuthorizeBatchResponse) },
  },
  {
    method: "post",
    path: "/access/v1/evaluation",
    summary: "AuthZEN 1.0 Access Evaluation",
    tags: ["authzen"],
    headers: TRACE,
    body: EvaluationRequest,
    responses: { 200: json("the decision", EvaluationResponse) },
  },
  {
    method: "post",
    path: "/access/v1/evaluations",
    summary: "AuthZEN 1.0 Access Evaluations (batch)",
    tags: ["authzen"],
    headers: TRACE,
    body: EvaluationsRequest,
    responses: { 200: json("one decision per evaluation", EvaluationsResponse) },
  },

  // The record.
  {
    method: "get",
    path: "/v1/decisions",
    summary: "Search recorded decisions, newest first",
    tags: ["audit"],
    query: DecisionQuery,
    extraQuery: search,
    responses: { 200: json("a page of decisions", DecisionPage) },
  },
  {
    method: "get",
    path: "/v1/decisions/export",
    summary: "Export matching decisions as JSON Lines (one decision record a line) or CSV, streamed",
    tags: ["audit"],
    query: DecisionExportQuery,
    extraQuery: search,
    responses: { 200: { description: "the decisions", other: { "application/x-ndjson": text, "text/csv": text } } },
  },
  {
    method: "get",
    path: "/v1/decisions/stats",
    summary: "Decision counts over time, and the most denied tools, agents and users",
    tags: ["audit"],
    query: DecisionStatsQuery,
    extraQuery: search,
    responses: { 200: json("counts", DecisionStats) },
  },
  {
    method: "get",
    path: "/v1/decisions/:id",
    summary: "One recorded decision",
    tags: ["audit"],
    params: { id: "the decision id (a UUID)" },
    responses: { 200: json("the decision record", DecisionRecord) },
  },
  // Task memory: ending a task, and the auditor's view of one.
  {
    method: "post",
    path: "/v1/tasks/:taskId/end",
    summary: "End a task: every later tools/call naming it is denied (task ended), on every replica within 1 s; recorded as a task/end record of the hash chain",
    tags: ["tasks"],
    body: TaskEndRequest,
    params: { taskId: "the task id, as tools/call names it in task.id (1 to 256 characters)" },
    responses: { 200: json("the task's end (the first one, alreadyEnded true, when it had ended before)", TaskEndResponse) },
  },
  {
    method: "get",
    path: "/v1/tasks/:taskId",
    summary: "One task: its records oldest first, its chains of actors (agent, user, delegation) and totals",
    tags: ["tasks"],
    query: TaskQuery,
    params: { taskId: "the task id" },
    responses: { 200: json("the task", TaskView) },
  },
  // Approvals bound to the exact call.
  {
    method: "get",
    path: "/v1/approvals",
    summary: "Approval requests, newest first, filtered by status, group, agent, user and task",
    tags: ["approvals"],
    query: ApprovalQuery,
    responses: { 200: json("a page of approval requests", ApprovalPage) },
  },
  {
    method: "get",
    path: "/v1/approvals/:id",
    summary: "One approval request: the exact call it binds, why the policies ask for it, and where it is",
    tags: ["approvals"],
    params: { id: "the approval id (a UUID)" },
    responses: { 200: json("the approval request", Approval) },
  },
  {
    method: "post",
    path: "/v1/approvals/:id/approve",
    summary: "A person of the group approves the exact call, once: the identical call is then allowed once within VERDICT_APPROVAL_TTL_SECONDS",
    tags: ["approvals"],
    body: ApprovalDecisionRequest,
    params: { id: "the approval id (a UUID)" },
    errors: [409],
    responses: { 200: json("the approved request", Approval) },
  },
  {
    method: "post",
    path: "/v1/approvals/:id/deny",
    summary: "A person of the group refuses the exact call",
    tags: ["approvals"],
    body: ApprovalDecisionRequest,
    params: { id: "the approval id (a UUID)" },
    errors: [409],
    responses: { 200: json("the denied request", Approval) },
  },
  {
    method: "get",
    path: "/v1/audit/verify",
    summary: "Walk every hash chain of the decision log and name the first broken link",
    tags: ["audit"],
    query: VerifyQuery,
    responses: { 200: json("the verification report", VerifyReport) },
  },
  {
    method: "get",
    path: "/v1/audit/decisions/:id",
    summary: "One decision with its determining policies' text and its chain status",
    tags: ["audit"],
    params: { id: "the decision id (a UUID)" },
    responses: { 200: json("the decision, its policies and its chain status", AuditDecision) },
  },

  // Policy sets.
  {
    method: "post",
    path: "/v1/policy-sets",
    summary: "Publish a version (validated; not activated)",
    tags: ["policy-sets"],
    body: PublishRequest,
    responses: { 201: json("published", PolicySetPublished), 200: json("already published", PolicySetPublished) },
  },
  { method: "get", path: "/v1/policy-sets", summary: "List published versions and the one in force", tags: ["policy-sets"], responses: { 200: json("the versions", PolicySetList) } },
  {
    method: "post",
    path: "/v1/policy-sets/rollback",
    summary: "Activate the version active before the current one",
    tags: ["policy-sets"],
    responses: { 200: json("activated", PolicySetActivated) },
  },
  {
    method: "get",
    path: "/v1/policy-sets/:version",
    summary: "One version: its policies, links and sources",
    tags: ["policy-sets"],
    params: { version: "a version, a unique prefix of one, or `active`" },
    responses: { 200: json("the version", PolicySetDetail) },
  },
  {
    method: "get",
    path: "/v1/policy-sets/:version/diff",
    summary: "What changed between two versions",
    tags: ["policy-sets"],
    query: DiffQuery,
    params: { version: "the newer version (any reference)" },
    responses: { 200: json("the difference", VersionDiff) },
  },
  {
    method: "get",
    path: "/v1/policy-sets/:version/policies",
    summary: "The text of policies of one version (for the explorer's decision detail)",
    tags: ["policy-sets"],
    query: PolicyTextQuery,
    params: { version: "a version (any reference), or the exact version this replica serves" },
    responses: { 200: json("the policies' text", PolicyTexts) },
  },
  {
    method: "post",
    path: "/v1/policy-sets/:version/activate",
    summary: "Activate a published version on every replica",
    tags: ["policy-sets"],
    params: { version: "the version to activate (any reference)" },
    responses: { 200: json("activated", PolicySetActivated) },
  },
  {
    method: "post",
    path: "/v1/policy-sets/:version/templates",
    summary: "Publish a new version with a Cedar template added",
    tags: ["policy-sets"],
    body: TemplateRequest,
    params: { version: "the base version" },
    responses: { 201: json("published", PolicySetPublished), 200: json("already published", PolicySetPublished) },
  },
  {
    method: "post",
    path: "/v1/policy-sets/:version/links",
    summary: "Publish a new version with a template-linked policy added",
    tags: ["policy-sets"],
    body: LinkRequest,
    params: { version: "the base version" },
    responses: { 201: json("published", PolicySetPublished), 200: json("already published", PolicySetPublished) },
  },
  {
    method: "delete",
    path: "/v1/policy-sets/:version/links/:id",
    summary: "Publish a new version without a template-linked policy",
    tags: ["policy-sets"],
    params: { version: "the base version", id: "the linked policy's id" },
    responses: { 201: json("published", PolicySetPublished), 200: json("already published", PolicySetPublished) },
  },
  {
    method: "post",
    path: "/v1/policy-sets/:version/replay",
    summary: "Replay recorded decisions against a version; `Accept: application/x-ndjson` streams progress lines",
    tags: ["policy-sets"],
    body: ReplayRequest,
    params: { version: "the candidate version" },
    responses: {
      200: {
        description: "the replay report; streamed: `{\"progress\": ...}` lines, then `{\"report\": ...}` or `{\"error\": ...}`",
        json: ReplayReport,
        other: { "application/x-ndjson": text },
      },
    },
  },
  { method: "get", path: "/v1/tools/drift", summary: "Tools whose reported definition differs from the pinned one", tags: ["policy-sets"], query: DriftQuery, responses: { 200: json("the drift", ToolDriftList) } },

  // Operations.
  {
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics (text exposition format); also served without a key on VERDICT_METRICS_ADDR",
    tags: ["operations"],
    responses: { 200: { description: "the metrics", other: { "text/plain": text } } },
  },

  // Keys.
  { method: "post", path: "/v1/keys", summary: "Create an API key (the key is in this answer only)", tags: ["keys"], body: ApiKeyCreateRequest, responses: { 201: json("created", ApiKeyCreated) } },
  { method: "get", path: "/v1/keys", summary: "List API keys (never the keys themselves)", tags: ["keys"], responses: { 200: json("the keys", ApiKeyList) } },
  { method: "delete", path: "/v1/keys/:id", summary: "Revoke an API key", tags: ["keys"], params: { id: "the key's id" }, responses: { 200: json("the revoked key", ApiKeyInfo) } },
  {
    method: "post",
    path: "/v1/signing-keys/rotate",
    summary: "Start signing with a new key; the old one stays published for the grace period",
    tags: ["credentials"],
    responses: { 200: json("the new key id and the JWKS", SigningKeyRotated) },
  },
];

/** The name of the one security scheme: `Authorization: Bearer <API key>`. */
export const SECURITY_SCHEME = "apiKey";

/** `/v1/decisions/:id` → `/v1/decisions/{id}`; hono's `*` → `{path}`. */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}").replace(/\*$/, "{path}");
}

/** A zod schema as a JSON Schema (2020-12) to embed, without its own `$schema`. */
function schemaOf(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  // `input`: what a caller may send (defaulted fields optional); `output`: what Verdict answers.
  // Refinements (clean strings, bounded sessions) have no JSON Schema: they are left out, so
  // the document admits a little more than the server does, never less.
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as JsonSchema;
  return rest;
}

const ERRORS: Record<number, string> = {
  400: "bad request: the body, query or a path parameter is invalid (`details.issues` names the fields)",
  401: "missing, unknown or revoked API key",
  403: "the API key's role may not call this route",
  404: "no such resource",
  409: "the resource is not in a state that allows this (an approval decided already, or expired)",
  413: "the body is larger than 1 MiB",
  500: "internal error; for a decision: the request was not decided, treat as a deny",
  503: "a dependency (the database, the key store, the signer) is unavailable; for a decision: treat as a deny",
};

/** The common error answers that apply to `op` (statuses of `ERRORS`). */
function errorStatuses(op: OperationSpec, roles: ReturnType<typeof rolesFor>): number[] {
  const out: number[] = [];
  // Every route may refuse a malformed X-Request-ID.
  out.push(400);
  if (roles !== "public") out.push(401, 403);
  if (op.params !== undefined) out.push(404);
  if (op.method === "post") out.push(413);
  // Every route but liveness, the static ones and this document reads the database or the keys.
  if (roles !== "public" || op.optionalKey) out.push(500, 503);
  out.push(...(op.errors ?? []));
  return out;
}

/** The OpenAPI Operation Object of one row. */
function operationObject(op: OperationSpec): JsonSchema {
  const roles = rolesFor(op.method.toUpperCase(), openApiPath(op.path));
  const parameters: JsonSchema[] = [];
  for (const name of op.path.match(/:([A-Za-z0-9_]+)/g) ?? []) {
    const n = name.slice(1);
    parameters.push({ name: n, in: "path", required: true, description: op.params?.[n], schema: { type: "string" } });
  }
  if (op.path.endsWith("*")) parameters.push({ name: "path", in: "path", required: true, description: op.params?.path, schema: { type: "string" } });
  if (op.query) {
    const q = schemaOf(op.query, "input") as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, schema] of Object.entries(q.properties ?? {})) {
      const param: JsonSchema = { name, in: "query", required: q.required?.includes(name) ?? false, schema };
      // A repeated parameter (`id=a&id=b`) is an array in the schema.
      if (schema.type === "array") Object.assign(param, { style: "form", explode: true });
      parameters.push(param);
    }
  }
  for (const e of op.extraQuery ?? []) parameters.push({ name: e.name, in: "query", required: false, description: e.description, schema: { type: "string" } });
  for (const h of op.headers ?? []) parameters.push({ name: h.name, in: "header", required: false, description: h.description, schema: h.schema });
  parameters.push(REQUEST_ID);

  const responses: Record<string, JsonSchema> = {};
  for (const [status, r] of Object.entries(op.responses)) {
    const content: Record<string, JsonSchema> = {};
    if (r.json) content["application/json"] = { schema: schemaOf(r.json, "output") };
    for (const [type, schema] of Object.entries(r.other ?? {})) content[type] = { schema };
    responses[status] = {
      description: r.description,
      ...(r.headers ? { headers: Object.fromEntries(Object.entries(r.headers).map(([h, d]) => [h, { description: d, schema: { type: "string" } }])) } : {}),
      ...(Object.keys(content).length ? { content } : {}),
    };
  }
  for (const status of errorStatuses(op, roles)) {
    responses[String(status)] ??= { $ref: `#/components/responses/Error${status}` };
  }

  const admitted = roles === "public" ? [] : ["admin", ...roles];
  return {
    operationId: `${op.method}${openApiPath(op.path).replace(/[{}]/g, "").replace(/[^A-Za-z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ?? "").toUpperCase())}`,
    summary: op.summary,
    tags: [...op.tags],
    // OpenAPI 3.1 lets a non-OAuth scheme list the roles an operation needs; `[]` is public, and
    // `{}` beside the key says the key is optional.
    security: roles === "public" ? (op.optionalKey ? [{}, { [SECURITY_SCHEME]: [] }] : []) : [{ [SECURITY_SCHEME]: admitted }],
    "x-verdict-roles": roles === "public" ? "public" : admitted,
    ...(parameters.length ? { parameters } : {}),
    ...(op.body ? { requestBody: { required: true, content: { "application/json": { schema: schemaOf(op.body, "input") } } } } : {}),
    responses,
  };
}

/**
 * Builds the OpenAPI 3.1 document of {@link OPERATIONS}.
 * @param serverUrl the URL clients reach Verdict at (`VERDICT_PUBLIC_URL`), listed as the server; none when absent
 * @returns a JSON-serialisable OpenAPI 3.1.1 document
 */
export function openApiDocument(serverUrl?: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of OPERATIONS) (paths[openApiPath(op.path)] ??= {})[op.method] = operationObject(op);
  return {
    openapi: "3.1.1",
    info: {
      title: "Verdict",
      version: VERSION,
      summary: "Policy decision point for AI agents' MCP tool calls, on Cedar",
      description: "Generated from the zod schemas that validate the requests. Errors are `{\"error\": {\"code\", \"message\", \"details\"?}}`.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    paths,
    components: {
      securitySchemes: { [SECURITY_SCHEME]: { type: "http", scheme: "bearer", description: "An API key; its role (pep, auditor, policy-admin, admin) decides what it may call." } },
      schemas: { Error: schemaOf(ErrorBody, "output") },
      responses: Object.fromEntries(
        Object.entries(ERRORS).map(([status, description]) => [`Error${status}`, { description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } }]),
      ),
    },
  };
}

/** `GET /openapi.json`, built once per app (the document does not change while the process runs). */
export function openApiRoutes(deps: { publicUrl: () => string }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  let doc: JsonSchema | undefined;
  app.get("/openapi.json", (c) => c.json((doc ??= openApiDocument(deps.publicUrl()))));
  return app;
}
