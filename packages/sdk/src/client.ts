/**
 * The thin Verdict client (DESIGN.md "Wire contract"). One method per endpoint, typed from the
 * wire contract's zod schemas, and fail closed: every method resolves, never rejects. When
 * Verdict cannot be asked (timeout, network error, non-200, an answer that is not JSON or does
 * not match the contract), a decision method resolves to a deny carrying the `cause`.
 */
import type { z } from "zod";
import {
  AuthorizeBatchResponse,
  DecisionPage,
  DecisionResponse,
  TaskEndResponse,
  ToolListResponse,
  type AuthorizeBatchRequest,
  type AuthorizeRequest,
  type DecisionQuery,
  type McpTool,
  type TaskEndRequest,
  type ToolCallRequest,
  type ToolListRequest,
} from "./wire.js";
import { failedDecision, publicCause, type FailedDecision, type FailureCause } from "./errors.js";
import { HttpTransport, type HttpTransportOptions, type Transport, type TransportRequest } from "./transport.js";

/** A decision: Verdict's answer, or the SDK's own deny when Verdict could not be asked. Allow only when `decision === "allow"`. */
export type Decision = (DecisionResponse & { cause?: undefined }) | FailedDecision;

/**
 * A filtered tool list. When Verdict could not be asked, no tool is visible: `tools` is empty,
 * every tool is in `hidden` with the cause as its reason, and `cause` is set.
 */
export type ToolList =
  | (ToolListResponse & { cause?: undefined })
  | { tools: McpTool[]; hidden: Array<{ name: string; reason: string }>; policySetVersion: null; cause: FailureCause };

/**
 * What `decisions()` resolves to. Verdict's page (`cause` undefined; `decisions` may be empty:
 * no decision matches), or, when Verdict could not be asked or its answer was unusable, an empty
 * page with the `cause` set. Test `cause`, not the length, to tell "none" from "could not ask".
 */
export type DecisionList = (DecisionPage & { cause?: undefined }) | { decisions: []; nextCursor: null; cause: FailureCause };

/**
 * What `endTask()` resolves to: Verdict's answer (`cause` undefined; `alreadyEnded` true when the
 * task had been ended before, with that first end's `endedAt` and `recordId`), or, when Verdict
 * could not be asked or its answer was unusable, only the `cause`: the task may or may not be
 * ended then, so test `cause` and retry, or let the task expire by policy.
 */
export type TaskEndResult = (TaskEndResponse & { cause?: undefined }) | { cause: FailureCause };

/**
 * Options of one decision request. `trace`: the W3C trace context the decision joins (sent as the
 * `traceparent` and `tracestate` headers; Verdict's `verdict.decide` span becomes its child and
 * the record keeps its trace id). The SDK depends on no tracing library: an application using
 * OpenTelemetry passes its active context, e.g. `const h = {}; propagation.inject(context.active(), h)`
 * then `{ trace: h }` (when `h.traceparent` is set).
 */
export interface RequestOptions {
  trace?: { traceparent: string; tracestate?: string };
}

/** The trace headers of a request, when it names a trace context. */
function traceHeaders(options: RequestOptions | undefined): Record<string, string> | undefined {
  const trace = options?.trace;
  if (!trace?.traceparent) return undefined;
  return { traceparent: trace.traceparent, ...(trace.tracestate ? { tracestate: trace.tracestate } : {}) };
}

/** Options of `VerdictClient`: those of the HTTP transport, or a transport of your own. */
export type VerdictClientOptions = HttpTransportOptions | { transport: Transport };

/**
 * A client of one Verdict service.
 *
 * @example
 * const verdict = new VerdictClient({ baseUrl: "http://127.0.0.1:8700", apiKey });
 * const d = await verdict.callTool({ agent: "code-assistant", server: "filesystem", tool: "read_file", arguments: { path } });
 * if (d.decision !== "allow") throw new Error(d.message);
 */
export class VerdictClient {
  readonly #transport: Transport;

  constructor(options: VerdictClientOptions) {
    this.#transport = "transport" in options ? options.transport : new HttpTransport(options);
  }

  /** `POST /v1/mcp/tools/call`: may this agent call this tool with these arguments? */
  async callTool(request: ToolCallRequest, options?: RequestOptions): Promise<Decision> {
    const result = await this.#ask({ method: "POST", path: "/v1/mcp/tools/call", body: request, headers: traceHeaders(options) }, DecisionResponse);
    return result.ok ? result.value : failedDecision(result.cause);
  }

  /** `POST /v1/mcp/tools/list`: which of these tools may the agent see? */
  async listTools(request: ToolListRequest, options?: RequestOptions): Promise<ToolList> {
    const result = await this.#ask({ method: "POST", path: "/v1/mcp/tools/list", body: request, headers: traceHeaders(options) }, ToolListResponse);
    if (result.ok) return result.value;
    const reason = failedDecision(result.cause).message;
    return { tools: [], hidden: request.tools.map((t) => ({ name: t.name, reason })), policySetVersion: null, cause: result.cause };
  }

  /** `POST /v1/authorize`: any Cedar request. */
  async authorize(request: AuthorizeRequest, options?: RequestOptions): Promise<Decision> {
    const result = await this.#ask({ method: "POST", path: "/v1/authorize", body: request, headers: traceHeaders(options) }, DecisionResponse);
    return result.ok ? result.value : failedDecision(result.cause);
  }

  /** `POST /v1/authorize/batch`: several Cedar requests; `results` in the order of `requests`. */
  async authorizeBatch(request: AuthorizeBatchRequest, options?: RequestOptions): Promise<{ results: Decision[] }> {
    const result = await this.#ask({ method: "POST", path: "/v1/authorize/batch", body: request, headers: traceHeaders(options) }, AuthorizeBatchResponse);
    let cause: FailureCause;
    if (!result.ok) cause = result.cause;
    else if (result.value.results.length === request.requests.length) return result.value;
    else cause = { kind: "invalid-response", message: `asked ${request.requests.length} decisions, got ${result.value.results.length}` };
    return { results: request.requests.map(() => failedDecision(cause)) };
  }

  /**
   * `GET /v1/decisions` (an `auditor` or `admin` key): the decision record, newest first, at most
   * `query.limit` (default 50) per page; follow `nextCursor` for more. Resolves, never rejects:
   * to Verdict's page with `cause` undefined (an empty `decisions`: nothing matches), or, when
   * Verdict could not be asked (timeout, network, non-200 such as a 401 or 403, an answer off the
   * contract), to `{ decisions: [], nextCursor: null, cause }`.
   */
  async decisions(query: DecisionQuery = {}): Promise<DecisionList> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const qs = params.size ? `?${params}` : "";
    const result = await this.#ask({ method: "GET", path: `/v1/decisions${qs}` }, DecisionPage);
    return result.ok ? result.value : { decisions: [], nextCursor: null, cause: result.cause };
  }

  /**
   * `POST /v1/tasks/{taskId}/end` (a `pep` or `admin` key): ends a task, so that every later
   * `tools/call` naming it is denied `verdict:task-ended`, on every replica within
   * `TASK_END_PROPAGATION_MS` of the answer (DESIGN.md "Task memory"). Idempotent: ending an
   * ended task again answers `alreadyEnded: true` and changes nothing.
   * @param taskId the task's id, as calls name it in `task.id` (sent percent-encoded in the path)
   * @param request optional `reason` (at most 1,000 characters), kept in the `task/end` record
   * @returns resolves, never rejects: Verdict's answer, or `{ cause }` when Verdict could not be
   *   asked (timeout, network, non-200 such as a 401, 403 or 400, an answer off the contract or
   *   naming another task)
   */
  async endTask(taskId: string, request: TaskEndRequest = {}): Promise<TaskEndResult> {
    const result = await this.#ask({ method: "POST", path: `/v1/tasks/${encodeURIComponent(taskId)}/end`, body: request }, TaskEndResponse);
    if (!result.ok) return { cause: result.cause };
    if (result.value.task.id !== taskId) {
      return { cause: { kind: "invalid-response", message: `asked to end task ${JSON.stringify(taskId)}, Verdict answered for ${JSON.stringify(result.value.task.id)}` } };
    }
    return result.value;
  }

  async #ask<S extends z.ZodType>(
    request: TransportRequest,
    schema: S,
  ): Promise<{ ok: true; value: z.infer<S> } | { ok: false; cause: FailureCause }> {
    const sent = await this.#transport.send(request);
    // Verdict's error message never reaches a decision's message (see `publicCause`).
    if (!sent.ok) return { ok: false, cause: publicCause(sent.cause) };
    const parsed = schema.safeParse(sent.body);
    if (parsed.success) return { ok: true, value: parsed.data };
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join(".")}` : "";
    return { ok: false, cause: { kind: "invalid-response", message: `Verdict's answer does not match the contract${where}: ${issue?.message}` } };
  }
}
