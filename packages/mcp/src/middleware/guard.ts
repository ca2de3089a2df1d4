/**
 * The enforcement logic shared by the MCP middleware and the `verdict-mcp` gateway: who is
 * asking (agent and server from configuration, the agent's token from its source, the user's
 * bearer token from the client's request, user and task from configuration or from the request's
 * `_meta`), the per-call credential (asked of Verdict and forwarded, or verified on arrival), and
 * the JSON-RPC answers for a denied `tools/call` or `tools/list`.
 */
import type { MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";
import {
  CallCredentialError,
  publicCause,
  verifyCallCredential,
  type CallCredentialFailure,
  type Decision,
  type FailureCause,
  type McpTool,
  type RequestOptions,
  type Task,
  type ToolList,
  type VerdictClient,
  type VerifyCallCredentialOptions,
} from "@verdict/sdk";

/**
 * `_meta` keys a client may set on `tools/call` and `tools/list` params (MCP 2025-06-18
 * `_meta`, with a `verdict/` prefix as the spec asks of vendor keys):
 * - `verdict/user`: the user the agent acts for (a string, the `Mcp::User` id);
 * - `verdict/task`: the task, as a string id or `{"id": "...", "kind": "..."}`.
 * They override the configured user and task for that one request. The agent and the server
 * are never taken from `_meta`: the client *is* the agent, and could otherwise name itself.
 */
export const META_USER = "verdict/user";
/** See `META_USER`. */
export const META_TASK = "verdict/task";
/**
 * `_meta` key of `tools/call` params that carries Verdict's per-call credential (a Transaction
 * Token, README "Per-call credentials") from the gateway to the MCP server. A gateway that asks
 * Verdict drops whatever value the client put there, and sets it only with `forwardCredential`.
 */
export const META_CREDENTIAL = "verdict/credential";

/** JSON-RPC error code of a denied call (the AuthZEN MCP profile draft's proposal). */
export const DENIED_CODE = -32001;
/** JSON-RPC "Invalid params" (JSON-RPC 2.0 §5.1), for a malformed `verdict/*` `_meta` value. */
export const INVALID_PARAMS_CODE = -32602;

/** The `data` of a -32001 error: what the agent (and its operator) need to understand a deny. */
export interface DeniedErrorData {
  /** The recorded decision's id; null when Verdict could not be asked (see `cause`). */
  decisionId: string | null;
  /** Determining policy ids. */
  reasons: string[];
  message: string;
  policySetVersion: string | null;
  /**
   * Why no decision could be made (Verdict unreachable, timed out, ...), when that is the case:
   * the SDK's own sentence, the HTTP status and Verdict's error code, never Verdict's error
   * message or body (those stay in the PEP's log, through `onDecision`).
   */
  cause?: { kind: string; message: string; status?: number; code?: string };
  /** Why the call's credential was refused (`verifyCredential`): missing, or `verifyCallCredential`'s failure. */
  credentialFailure?: CallCredentialFailure | "missing";
}

/** A JSON-RPC error object (JSON-RPC 2.0 §5.1). */
export interface RpcError {
  code: number;
  message: string;
  data?: unknown;
}

/**
 * Where a token comes from: the token itself, or a function called on every request (so a token
 * rotated on disk, such as a SPIFFE JWT-SVID, is picked up). A function that throws or returns
 * nothing fails the request closed.
 */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

/**
 * Configuration of a guard: the identity of the agent and the server it protects, and what it
 * does on each call: ask Verdict (`verdict`), verify a per-call credential (`verifyCredential`),
 * or both (verification first). At least one of the two.
 */
export interface GuardOptions {
  /** The Verdict client to ask; absent: no decision is asked and `tools/list` is not filtered. */
  verdict?: VerdictClient;
  /** The agent (Cedar principal `Mcp::Agent`); may be left out when `agentToken` names it. */
  agent?: string;
  /** The agent's own token (an OIDC client-credentials JWT, a SPIFFE JWT-SVID), sent to Verdict as `agentToken`. */
  agentToken?: TokenSource;
  /**
   * The user's token for a request, sent to Verdict as `userToken` (see `bearerToken`); it is
   * never passed on to the server side.
   */
  userToken?: (extra: MessageExtraInfo | undefined) => string | undefined;
  /** The protected server's id (Cedar resource `Mcp::Server`, the name of its pinned catalog). */
  server: string;
  /** The default user the agent acts for; `_meta["verdict/user"]` overrides it per request. */
  user?: string;
  /** The default task; `_meta["verdict/task"]` overrides it per request. */
  task?: Task;
  /**
   * Ask Verdict for a per-call credential and put it in `_meta["verdict/credential"]` of the
   * forwarded call. An allow without a credential is refused (fail closed). Needs `verdict`.
   */
  forwardCredential?: boolean;
  /**
   * Refuse (-32001) any `tools/call` whose `_meta["verdict/credential"]` is missing or does not
   * match the call exactly (`verifyCallCredential` against this server, the tool and arguments).
   */
  verifyCredential?: VerifyCallCredentialOptions;
  /** Called with every decision taken, for logging or display. */
  onDecision?: (event: GuardEvent) => void;
  /**
   * Called with the task of every `tools/call` and `tools/list` about to be sent to Verdict
   * (configured or from `_meta`), before it is sent: e.g. to end the tasks a session named when
   * it closes (`verdict-mcp --end-task-on-exit`). Not called for a request without a task.
   */
  onTask?: (task: Task) => void;
}

/**
 * The user's bearer token of a request, for `GuardOptions.userToken`: the token an MCP SDK auth
 * middleware verified (`authInfo.token`), else the `Authorization: Bearer` header of the
 * Streamable HTTP request (RFC 6750 §2.1); undefined over stdio.
 */
export function bearerToken(extra: MessageExtraInfo | undefined): string | undefined {
  if (extra?.authInfo?.token) return extra.authInfo.token;
  const header = extra?.requestInfo?.headers.authorization;
  const match = typeof header === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

/** A decision the guard took. */
export type GuardEvent =
  | { kind: "tools/call"; tool: string; arguments: Record<string, unknown>; user?: string; task?: Task; decision: Decision }
  | { kind: "credential"; tool: string; arguments: Record<string, unknown>; failure?: CallCredentialFailure | "missing"; message?: string }
  | { kind: "tools/list"; user?: string; task?: Task; visible: string[]; hidden: ToolList["hidden"]; cause?: ToolList["cause"] };

/** The outcome of a check: go ahead, or answer the client with this JSON-RPC error. */
export type CheckResult<T> = { ok: true; value: T } | { ok: false; error: RpcError };

interface Identity {
  user?: string;
  task?: Task;
}

/** Asks Verdict about, and checks the credentials of, `tools/list` and `tools/call` requests of one MCP session. */
export class ToolGuard {
  readonly #options: GuardOptions;

  /** @throws TypeError when the options ask for nothing, or ask Verdict with no agent */
  constructor(options: GuardOptions) {
    if (!options.verdict && !options.verifyCredential) throw new TypeError("ToolGuard: give verdict, verifyCredential, or both");
    if (options.verdict && !options.agent && !options.agentToken) throw new TypeError("ToolGuard: asking Verdict needs an agent or an agent token");
    if (options.forwardCredential && !options.verdict) throw new TypeError("ToolGuard: forwardCredential needs verdict");
    this.#options = options;
  }

  /**
   * Checks a `tools/call` (its `params`): its credential when `verifyCredential` is set, then
   * Verdict's decision when `verdict` is set. Fails closed: a malformed request, a refused
   * credential or a failure to ask Verdict is an error answer, never a go-ahead.
   * @param client the MCP client's `clientInfo.name`, when known
   * @param extra the transport's information on the request (for the user's token)
   * @returns the params to pass on (with `_meta["verdict/credential"]` set, dropped or kept as configured)
   */
  async checkCall(params: unknown, client?: string, extra?: MessageExtraInfo): Promise<CheckResult<Record<string, unknown>>> {
    const p = asObject(params);
    if (!p || typeof p.name !== "string") return invalid("tools/call params.name must be a string");
    if (p.arguments !== undefined && !asObject(p.arguments)) return invalid("tools/call params.arguments must be an object");
    const identity = this.#identity(p._meta);
    if (!identity.ok) return identity;
    const tool = p.name;
    const args = (p.arguments ?? {}) as Record<string, unknown>;
    const meta = { ...asObject(p._meta) };
    if (this.#options.verifyCredential) {
      const refused = await this.#verifyCredential(meta[META_CREDENTIAL], tool, args, this.#options.verifyCredential);
      if (refused) return refused;
    }
    const verdict = this.#options.verdict;
    if (!verdict) return { ok: true, value: p };
    // The credential is Verdict's to give: whatever the client sent under that key is not passed on.
    delete meta[META_CREDENTIAL];
    const tokens = await this.#tokens(extra);
    if (!tokens.ok) return tokens;
    const { user, task } = identity.value;
    if (task) this.#options.onTask?.(task);
    const decision = await verdict.callTool(
      {
        server: this.#options.server,
        tool,
        arguments: args,
        ...(this.#options.agent ? { agent: this.#options.agent } : {}),
        ...tokens.value,
        ...(user ? { user } : {}),
        ...(task ? { task } : {}),
        ...(client ? { client } : {}),
        ...(this.#options.forwardCredential ? { credential: true } : {}),
      },
      traceOf(meta),
    );
    this.#options.onDecision?.({ kind: "tools/call", tool, arguments: args, user, task, decision });
    if (decision.decision !== "allow" || decision.cause) {
      return denied({
        decisionId: decision.decisionId,
        reasons: decision.reasons,
        message: decision.message ?? `${this.#options.server}/${tool} is not allowed`,
        policySetVersion: decision.policySetVersion,
        ...(decision.cause ? { cause: forwardable(decision.cause) } : {}),
      });
    }
    if (this.#options.forwardCredential) {
      if (!decision.credential) {
        return denied({
          decisionId: decision.decisionId,
          reasons: decision.reasons,
          message: "Verdict allowed the call but minted no credential to forward; not called (fail closed)",
          policySetVersion: decision.policySetVersion,
        });
      }
      meta[META_CREDENTIAL] = decision.credential.token;
    }
    const { _meta: _, ...rest } = p;
    return { ok: true, value: Object.keys(meta).length ? { ...rest, _meta: meta } : rest };
  }

  /**
   * Filters a `tools/list` result through Verdict: the result with only the visible tools
   * (the upstream's own tool objects, other keys such as `nextCursor` kept). Without `verdict`,
   * the result as it is.
   * @param requestParams the `tools/list` request's params (for `_meta`)
   */
  async filterList(requestParams: unknown, result: unknown, client?: string, extra?: MessageExtraInfo): Promise<CheckResult<Record<string, unknown>>> {
    const r = asObject(result);
    const verdict = this.#options.verdict;
    if (!r || !Array.isArray(r.tools) || !verdict) return { ok: true, value: r ?? {} };
    const identity = this.#identity(asObject(requestParams)?._meta);
    if (!identity.ok) return identity;
    const tokens = await this.#tokens(extra);
    if (!tokens.ok) return tokens;
    const { user, task } = identity.value;
    const tools = r.tools as McpTool[];
    if (task) this.#options.onTask?.(task);
    const list = await verdict.listTools(
      {
        server: this.#options.server,
        tools,
        ...(this.#options.agent ? { agent: this.#options.agent } : {}),
        ...tokens.value,
        ...(user ? { user } : {}),
        ...(task ? { task } : {}),
        ...(client ? { client } : {}),
      },
      traceOf(asObject(requestParams)?._meta),
    );
    const visible = new Set(list.tools.map((t) => t.name));
    this.#options.onDecision?.({ kind: "tools/list", user, task, visible: [...visible], hidden: list.hidden, cause: list.cause });
    if (list.cause) {
      return denied({ decisionId: null, reasons: [], message: list.hidden[0]?.reason ?? list.cause.message, policySetVersion: null, cause: forwardable(list.cause) });
    }
    return { ok: true, value: { ...r, tools: tools.filter((t) => visible.has(t.name)) } };
  }

  /** The agent's and the user's tokens to send to Verdict; a token source that fails is a deny. */
  async #tokens(extra: MessageExtraInfo | undefined): Promise<CheckResult<{ agentToken?: string; userToken?: string }>> {
    const userToken = this.#options.userToken?.(extra);
    const source = this.#options.agentToken;
    let agentToken: string | undefined;
    try {
      agentToken = typeof source === "function" ? await source() : source;
      if (source !== undefined && !agentToken) throw new Error("the token source gave no token");
    } catch (e) {
      const message = `cannot obtain the agent's token: ${e instanceof Error ? e.message : String(e)}`;
      return denied({ decisionId: null, reasons: [], message: `${message}; denied (fail closed)`, policySetVersion: null, cause: { kind: "agent-token", message } });
    }
    return { ok: true, value: { ...(agentToken ? { agentToken } : {}), ...(userToken ? { userToken } : {}) } };
  }

  /** Undefined when the credential authorizes exactly this call; else the -32001 answer. */
  async #verifyCredential(
    token: unknown,
    tool: string,
    args: Record<string, unknown>,
    options: VerifyCallCredentialOptions,
  ): Promise<{ ok: false; error: RpcError } | undefined> {
    let failure: CallCredentialFailure | "missing" | undefined;
    let message: string | undefined;
    if (typeof token !== "string" || token === "") {
      failure = "missing";
      message = `no per-call credential in _meta["${META_CREDENTIAL}"]`;
    } else {
      try {
        await verifyCallCredential(token, { server: this.#options.server, tool, arguments: args }, options);
      } catch (e) {
        if (!(e instanceof CallCredentialError)) throw e;
        failure = e.failure;
        message = e.message;
      }
    }
    this.#options.onDecision?.({ kind: "credential", tool, arguments: args, ...(failure ? { failure, message } : {}) });
    if (!failure) return undefined;
    return denied({ decisionId: null, reasons: [], message: `call credential refused (${failure}): ${message}`, policySetVersion: null, credentialFailure: failure });
  }

  #identity(meta: unknown): CheckResult<Identity> {
    const m = asObject(meta) ?? {};
    let user = this.#options.user;
    let task = this.#options.task;
    const u = m[META_USER];
    if (u !== undefined) {
      if (typeof u !== "string" || u === "") return invalid(`_meta["${META_USER}"] must be a non-empty string`);
      user = u;
    }
    const t = m[META_TASK];
    if (t !== undefined) {
      const o = asObject(t);
      if (typeof t === "string" && t !== "") task = { id: t };
      else if (o && typeof o.id === "string" && o.id !== "" && (o.kind === undefined || typeof o.kind === "string"))
        task = { id: o.id, ...(typeof o.kind === "string" ? { kind: o.kind } : {}) };
      else return invalid(`_meta["${META_TASK}"] must be a task id or {"id": string, "kind"?: string}`);
    }
    return { ok: true, value: { user, task } };
  }
}

function denied(data: DeniedErrorData): { ok: false; error: RpcError } {
  return { ok: false, error: { code: DENIED_CODE, message: `Denied by Verdict: ${data.message}`, data } };
}

/** The parts of a failure's cause an MCP client may see (the SDK's sentence, status, code), without Verdict's error body. */
function forwardable(cause: FailureCause): NonNullable<DeniedErrorData["cause"]> {
  const { kind, message, status, code } = publicCause(cause);
  return { kind, message, ...(status !== undefined ? { status } : {}), ...(code !== undefined ? { code } : {}) };
}

function invalid(message: string): { ok: false; error: RpcError } {
  return { ok: false, error: { code: INVALID_PARAMS_CODE, message } };
}

/**
 * The MCP request's W3C trace context (`params._meta.traceparent`/`tracestate`, OpenTelemetry's
 * MCP semantic conventions), passed on to Verdict so that its decision joins the client's trace.
 * Verdict parses and validates it; a value that is not a short string is not sent.
 */
function traceOf(meta: unknown): RequestOptions | undefined {
  const m = asObject(meta);
  const text = (v: unknown) => (typeof v === "string" && v.length > 0 && v.length <= 512 ? v : undefined);
  const traceparent = text(m?.traceparent);
  if (!traceparent) return undefined;
  const tracestate = text(m?.tracestate);
  return { trace: { traceparent, ...(tracestate ? { tracestate } : {}) } };
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
