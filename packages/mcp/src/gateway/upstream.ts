/** The upstream MCP server the gateway protects: a command spawned over stdio, or a Streamable HTTP URL. */
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";

/** Where the upstream server is (MCP 2025-06-18 "Transports"). */
export type Upstream =
  | { command: string; args: string[]; cwd?: string; env?: Record<string, string> }
  | { url: string; headers?: Record<string, string> };

/** How long to hold messages for an HTTP upstream's standalone SSE stream to open, in milliseconds. */
const STANDALONE_STREAM_WAIT_MS = 2000;

/**
 * A new transport to the upstream (not started). A stdio upstream is a new process per
 * transport, since a stdio server serves one session; its stderr goes to the gateway's stderr.
 */
export function upstreamTransport(upstream: Upstream): Transport {
  if ("url" in upstream) return new HttpUpstreamTransport(new URL(upstream.url), upstream.headers ?? {});
  return new StdioClientTransport({ command: upstream.command, args: upstream.args, cwd: upstream.cwd, env: upstream.env, stderr: "inherit" });
}

/**
 * The SDK's Streamable HTTP client transport, holding the session's messages after
 * `notifications/initialized` until the upstream has answered the GET that opens its standalone
 * SSE stream. A server may send a request (sampling, elicitation) on that stream while handling a
 * tool call; before the stream is open the message is lost. A direct client opens the stream
 * within microseconds of `initialized`; a gateway that asks Verdict in between must wait for it.
 */
class HttpUpstreamTransport implements Transport {
  readonly #inner: StreamableHTTPClientTransport;
  #standaloneOpened!: () => void;
  readonly #standalone = new Promise<void>((resolve) => (this.#standaloneOpened = resolve));
  #hold: Promise<void> | undefined;

  constructor(url: URL, headers: Record<string, string>) {
    this.#inner = new StreamableHTTPClientTransport(url, {
      requestInit: { headers },
      fetch: async (input, init) => {
        try {
          return await fetch(input, init);
        } finally {
          // Any answer (200, 405 when the server has no standalone stream) or failure ends the wait.
          if (init?.method === "GET") this.#standaloneOpened();
        }
      },
    });
  }

  set onmessage(handler: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined) {
    this.#inner.onmessage = handler;
  }
  set onclose(handler: (() => void) | undefined) {
    this.#inner.onclose = handler;
  }
  set onerror(handler: ((error: Error) => void) | undefined) {
    this.#inner.onerror = handler;
  }
  get sessionId(): string | undefined {
    return this.#inner.sessionId;
  }

  start(): Promise<void> {
    return this.#inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if ((message as { method?: unknown }).method === "notifications/initialized") {
      const sent = this.#inner.send(message, options);
      // The SDK issues that GET once the upstream accepted `initialized`; hold what follows until it is answered.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, STANDALONE_STREAM_WAIT_MS).unref()));
      this.#hold = sent
        .then(() => Promise.race([this.#standalone, timeout]))
        .catch(() => undefined)
        .then(() => {
          clearTimeout(timer);
          this.#hold = undefined;
        });
      return sent;
    }
    const hold = this.#hold;
    return hold ? hold.then(() => this.#inner.send(message, options)) : this.#inner.send(message, options);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  setProtocolVersion(version: string): void {
    this.#inner.setProtocolVersion(version);
  }
}
