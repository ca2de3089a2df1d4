/**
 * The MCP middleware for servers built with `@modelcontextprotocol/sdk`: a transport wrapper
 * that puts a `ToolGuard` between the client and the server, so `tools/list` is filtered and
 * each `tools/call` is authorized by Verdict before the server's handler runs. Works with
 * `McpServer` and the low-level `Server` alike, over any transport (stdio, Streamable HTTP).
 */
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";
import { ToolGuard, type GuardOptions } from "./guard.js";
import { ToolCallInterceptor } from "./interceptor.js";

/**
 * Wraps a server-side transport. Pass the result to `server.connect()`.
 *
 * @example
 * await server.connect(guardTransport(new StdioServerTransport(), { verdict, agent: "code-assistant", server: "notes" }));
 */
export function guardTransport(inner: Transport, options: GuardOptions): Transport {
  return new GuardedTransport(inner, new ToolGuard(options));
}

/** Anything with the MCP SDK's `connect(transport)`: `McpServer` or `Server`. */
export interface Connectable {
  connect(transport: Transport): Promise<void>;
}

/**
 * Connects a server to a transport through Verdict (`server.connect(guardTransport(...))`).
 * @throws what `server.connect` throws
 */
export function connectWithVerdict(server: Connectable, transport: Transport, options: GuardOptions): Promise<void> {
  return server.connect(guardTransport(transport, options));
}

class GuardedTransport implements Transport {
  readonly #inner: Transport;
  readonly #interceptor: ToolCallInterceptor;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;

  constructor(inner: Transport, guard: ToolGuard) {
    this.#inner = inner;
    this.#interceptor = new ToolCallInterceptor(
      guard,
      async (message, extra) => this.onmessage?.(message, extra),
      (message, options) => inner.send(message, options),
    );
    inner.onmessage = (message, extra) => {
      this.#interceptor.fromClient(message, extra).catch((e: unknown) => this.onerror?.(toError(e)));
    };
    inner.onclose = () => {
      // Calls still waiting (for Verdict, or for an approval) have nobody to answer any more.
      this.#interceptor.close();
      this.onclose?.();
    };
    inner.onerror = (e) => this.onerror?.(e);
  }

  get sessionId(): string | undefined {
    return this.#inner.sessionId;
  }

  start(): Promise<void> {
    return this.#inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    return this.#interceptor.fromServer(message, options);
  }

  close(): Promise<void> {
    this.#interceptor.close();
    return this.#inner.close();
  }

  setProtocolVersion(version: string): void {
    this.#inner.setProtocolVersion?.(version);
  }
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
