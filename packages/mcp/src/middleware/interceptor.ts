/**
 * A JSON-RPC message router between an MCP client side and an MCP server side that lets every
 * message through unchanged (resources, prompts, notifications, progress, sampling, elicitation,
 * cancellation, methods it does not know) except two (MCP 2025-06-18 "Tools"):
 * - a `tools/call` request is sent on only once the guard lets it through (with the params the
 *   guard gives: its `_meta` may gain or lose a per-call credential); else the client gets a
 *   JSON-RPC error in its place and the server never sees the request;
 * - a `tools/list` response is filtered to the tools Verdict lets the agent see.
 * While a `tools/call` waits for approval (`GuardOptions.waitForApproval`), the client gets
 * `notifications/progress` for it when it sent a `progressToken`; a `notifications/cancelled`
 * for it, or `close()`, ends the wait and the call is dropped.
 */
import type { JSONRPCMessage, MessageExtraInfo, ProgressToken, RequestId } from "@modelcontextprotocol/sdk/types.js";
import type { TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { ApprovalWait, RpcError, ToolGuard } from "./guard.js";

/** Sends a message towards the server side. */
export type ToServer = (message: JSONRPCMessage, extra?: MessageExtraInfo) => Promise<void>;
/** Sends a message towards the client side; `relatedRequestId` ties it to a client request (Streamable HTTP routes it to that request's stream). */
export type ToClient = (message: JSONRPCMessage, options?: TransportSendOptions) => Promise<void>;

type Msg = Record<string, unknown>;

/** Routes the messages of one MCP session; see the module comment. */
export class ToolCallInterceptor {
  readonly #guard: ToolGuard;
  readonly #toServer: ToServer;
  readonly #toClient: ToClient;
  #clientName: string | undefined;
  /** Client requests the server has not answered yet, oldest first (key: JSON of the id). */
  readonly #inFlight = new Map<string, RequestId>();
  /** `tools/list` requests awaiting their response, with their params (for `_meta`) and transport information (for the user's token). */
  readonly #lists = new Map<string, { params: unknown; extra: MessageExtraInfo | undefined }>();
  /** `tools/call` requests waiting for Verdict (or for an approval); aborted once the client cancelled them. */
  readonly #checking = new Map<string, AbortController>();
  /** Progress tokens of client requests, to route the server's progress to the request's stream. */
  readonly #progress = new Map<string, RequestId>();

  constructor(guard: ToolGuard, toServer: ToServer, toClient: ToClient) {
    this.#guard = guard;
    this.#toServer = toServer;
    this.#toClient = toClient;
  }

  /** Handles a message from the client side. Resolves once it is forwarded or answered. */
  async fromClient(message: JSONRPCMessage, extra?: MessageExtraInfo): Promise<void> {
    const m = message as Msg;
    const method = typeof m.method === "string" ? m.method : undefined;
    const isRequest = method !== undefined && "id" in m;
    if (!isRequest) {
      if (method === "notifications/cancelled") {
        const key = keyOf((m.params as Msg | undefined)?.requestId);
        const check = this.#checking.get(key);
        if (check) {
          // The server never saw that call: drop the cancellation, and the call when its check ends.
          check.abort();
          return;
        }
      }
      return this.#toServer(message, extra);
    }
    const id = m.id as RequestId;
    const key = keyOf(id);
    const params = m.params as Msg | undefined;
    if (method === "initialize") {
      const info = (params?.clientInfo as Msg | undefined)?.name;
      if (typeof info === "string") this.#clientName = info;
    }
    const token = (params?._meta as Msg | undefined)?.progressToken;
    if (token !== undefined) this.#progress.set(keyOf(token), id);
    if (method === "tools/list") this.#lists.set(key, { params, extra });
    let forward = message;
    if (method === "tools/call") {
      const controller = new AbortController();
      this.#checking.set(key, controller);
      const onApprovalWait = token === undefined ? undefined : (wait: ApprovalWait) => this.#progressOfWait(id, token as ProgressToken, wait);
      const check = await this.#guard.checkCall(params, this.#clientName, extra, { signal: controller.signal, onApprovalWait });
      if (this.#checking.get(key) === controller) this.#checking.delete(key);
      if (controller.signal.aborted) {
        this.#forgetProgress(id);
        return;
      }
      if (!check.ok) {
        this.#forgetProgress(id);
        return this.#toClient(errorResponse(id, check.error), { relatedRequestId: id });
      }
      forward = { ...m, params: check.value } as JSONRPCMessage;
    }
    this.#inFlight.set(key, id);
    return this.#toServer(forward, extra);
  }

  /** Handles a message from the server side. */
  async fromServer(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const m = message as Msg;
    if (typeof m.method !== "string") {
      // A response: it answers a client request.
      const id = m.id as RequestId;
      const key = keyOf(id);
      this.#inFlight.delete(key);
      this.#forgetProgress(id);
      if (this.#lists.has(key)) {
        const { params, extra } = this.#lists.get(key)!;
        this.#lists.delete(key);
        if ("result" in m) {
          const filtered = await this.#guard.filterList(params, m.result, this.#clientName, extra);
          const out = filtered.ok ? { ...m, result: filtered.value } : errorResponse(id, filtered.error);
          return this.#toClient(out as JSONRPCMessage, { ...options, relatedRequestId: id });
        }
      }
      return this.#toClient(message, { ...options, relatedRequestId: options?.relatedRequestId ?? id });
    }
    return this.#toClient(message, { ...options, relatedRequestId: options?.relatedRequestId ?? this.#relatedTo(m) });
  }

  /**
   * Ends every check in progress (a wait for approval included): their calls are dropped,
   * unanswered. For when the session closes.
   */
  close(): void {
    for (const controller of this.#checking.values()) controller.abort();
    this.#checking.clear();
  }

  /**
   * Tells the client its call is waiting for approval (MCP 2025-06-18 "Progress": `progress` in
   * seconds waited, increasing; `total` the wait's bound in seconds). A client gone is not an
   * error of the call: the wait goes on until it ends or is cancelled.
   */
  async #progressOfWait(id: RequestId, progressToken: ProgressToken, wait: ApprovalWait): Promise<void> {
    const params = { progressToken, progress: wait.elapsedMs / 1000, total: wait.timeoutMs / 1000, message: wait.message };
    await this.#toClient({ jsonrpc: "2.0", method: "notifications/progress", params } as JSONRPCMessage, { relatedRequestId: id }).catch(() => undefined);
  }

  /**
   * The client request a server-initiated message belongs to, for a server side that does not
   * say (a proxied upstream): the request named by a progress token, else the latest request in
   * flight (sampling, elicitation and logging during a tool call), else none (the standalone stream).
   */
  #relatedTo(m: Msg): RequestId | undefined {
    const params = m.params as Msg | undefined;
    if (m.method === "notifications/progress" && params?.progressToken !== undefined) {
      const id = this.#progress.get(keyOf(params.progressToken));
      if (id !== undefined) return id;
    }
    let last: RequestId | undefined;
    for (const id of this.#inFlight.values()) last = id;
    return last;
  }

  #forgetProgress(id: RequestId): void {
    for (const [token, rid] of this.#progress) if (rid === id) this.#progress.delete(token);
  }
}

function errorResponse(id: RequestId, error: RpcError): JSONRPCMessage {
  return { jsonrpc: "2.0", id, error } as JSONRPCMessage;
}

function keyOf(id: unknown): string {
  return JSON.stringify(id ?? null);
}
