/**
 * Joins one client-facing MCP transport to one upstream MCP transport at the JSON-RPC message
 * level, through a `ToolCallInterceptor`: everything passes unchanged, methods the gateway does
 * not know included, except `tools/call` (authorized) and `tools/list` (filtered).
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";
import { ToolCallInterceptor } from "../middleware/interceptor.js";
import type { ToolGuard } from "../middleware/guard.js";

/** JSON-RPC "Internal error" (JSON-RPC 2.0 §5.1): the upstream could not be reached. */
const INTERNAL_ERROR = -32603;

/** A running bridge. */
export interface Bridge {
  /** Closes both sides (idempotent). */
  close(): Promise<void>;
  /** Resolves when the bridge starts to close (either side closed, or `close()`), before both sides are closed. */
  closing: Promise<void>;
  /** Resolves when either side closed and the bridge has closed both. */
  closed: Promise<void>;
}

/**
 * Starts both transports and relays between them; when either side closes, so does the other.
 * @throws when a transport cannot start (e.g. the upstream command cannot be spawned)
 */
export async function bridge(client: Transport, upstream: Transport, guard: ToolGuard, logger: Logger): Promise<Bridge> {
  const interceptor = new ToolCallInterceptor(
    guard,
    async (message) => {
      try {
        await upstream.send(message);
      } catch (e) {
        logger.warn({ err: String(e) }, "cannot send to the upstream server");
        const m = message as { id?: unknown; method?: unknown };
        if (m.id !== undefined && typeof m.method === "string") {
          // A fixed sentence: the transport's error can quote the upstream's answer (its body); that goes to the log above.
          const error = { code: INTERNAL_ERROR, message: "the upstream MCP server cannot be reached" };
          await client.send({ jsonrpc: "2.0", id: m.id, error } as JSONRPCMessage, { relatedRequestId: m.id as string });
        }
      }
    },
    (message, options) => client.send(message, options),
  );
  let closing: Promise<void> | undefined;
  const fail = (side: string) => (e: unknown) => logger.warn({ err: String(e), side }, "message relay failed");
  client.onmessage = (message, extra) => {
    logger.trace({ message }, "from client");
    void interceptor.fromClient(message, extra).catch(fail("client"));
  };
  upstream.onmessage = (message) => {
    logger.trace({ message }, "from upstream");
    // The SDK's Client does this after `initialize`; a message-level proxy must do it itself so
    // the Streamable HTTP client transport sends the negotiated `MCP-Protocol-Version` header.
    const version = (message as { result?: { protocolVersion?: unknown } }).result?.protocolVersion;
    if (typeof version === "string") upstream.setProtocolVersion?.(version);
    void interceptor.fromServer(message).catch(fail("upstream"));
  };
  client.onerror = (e) => logger.debug({ err: e.message }, "client transport error");
  // Closing aborts the upstream's open streams: those errors are expected, not worth a warning.
  upstream.onerror = (e) => logger[closing ? "debug" : "warn"]({ err: e.message }, "upstream transport error");

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let resolveStarted!: () => void;
  const started = new Promise<void>((r) => (resolveStarted = r));
  const close = (): Promise<void> => {
    if (closing) return closing;
    resolveStarted();
    // Assigned before the transports close: their onclose calls back into close().
    let done!: () => void;
    closing = new Promise<void>((r) => (done = r));
    void Promise.allSettled([client.close(), upstream.close()]).then(() => {
      resolveClosed();
      done();
    });
    return closing;
  };
  client.onclose = () => void close();
  upstream.onclose = () => void close();

  await upstream.start();
  await client.start();
  return { close, closing: started, closed };
}
