/**
 * The `verdict-mcp` gateway: sits between any MCP client and one upstream MCP server, asks
 * Verdict before every `tools/call`, filters `tools/list`, and passes everything else through.
 * Serves the client over stdio (one session) or Streamable HTTP (a session per client, each
 * with its own upstream transport).
 */
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import pino, { type Logger } from "pino";
import { bearerToken, ToolGuard, type GuardOptions } from "../middleware/guard.js";
import { VerdictClient, type HttpTransportOptions } from "@verdict/sdk";
import { bridge, type Bridge } from "./bridge.js";
import { endTasks, SessionTasks } from "./end-tasks.js";
import { listenHttp, type HttpListenOptions } from "./http.js";
import { upstreamTransport, type Upstream } from "./upstream.js";

/**
 * Configuration of a gateway. The user's token is the client's `Authorization: Bearer` header
 * (Streamable HTTP), sent to Verdict as `userToken` and never to the upstream.
 */
export interface GatewayOptions extends Omit<GuardOptions, "verdict" | "userToken" | "verifyCredential" | "onTask"> {
  /** Verdict to ask: a client, or the options of one (`baseUrl`, `apiKey`, `timeout`). */
  verdict: VerdictClient | HttpTransportOptions;
  upstream: Upstream;
  /** Serve over Streamable HTTP with these options; absent: serve one client over this process's stdio. */
  listen?: HttpListenOptions;
  /** Logs go here (to stderr by default: stdout is the stdio transport's). */
  logger?: Logger;
  /**
   * When a session ends (the stdio client closed stdin, the HTTP client deleted its session, the
   * upstream went away, or `close()`), end every task the session named to Verdict
   * (`POST /v1/tasks/{taskId}/end`, configured or from `_meta["verdict/task"]`, on `tools/call`
   * and `tools/list`), waiting at most `END_TASKS_TIMEOUT_MS` (3 s); each task ended or not is
   * logged. `closed` and `close()` resolve once that is done. A task shared by several sessions
   * is ended for all of them by the first to close.
   */
  endTaskOnExit?: boolean;
}

/** A running gateway. */
export interface Gateway {
  /** The Streamable HTTP endpoint's URL, when listening over HTTP. */
  url?: string;
  /** Resolves when the gateway stops by itself (the stdio client or upstream went away). */
  closed: Promise<void>;
  /** Stops serving and closes every upstream transport. */
  close(): Promise<void>;
}

/**
 * Starts a gateway.
 * @throws when the HTTP port cannot be bound, or (stdio) when the upstream cannot be started
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const logger = options.logger ?? pino({ level: "info" }, pino.destination(2));
  const verdict = options.verdict instanceof VerdictClient ? options.verdict : new VerdictClient(options.verdict);
  const guardOptions: GuardOptions = {
    verdict,
    agent: options.agent,
    agentToken: options.agentToken,
    userToken: bearerToken,
    server: options.server,
    user: options.user,
    task: options.task,
    forwardCredential: options.forwardCredential,
    // Logs name decisions and causes, never a token (the tokens are not in these events).
    onDecision: (event) => {
      if (event.kind === "tools/call") {
        const d = event.decision;
        logger.info({ tool: event.tool, decision: d.decision, decisionId: d.decisionId, reasons: d.reasons, cause: d.cause }, "tools/call");
      } else if (event.kind === "tools/list") logger.debug({ visible: event.visible.length, hidden: event.hidden.length, cause: event.cause }, "tools/list");
      options.onDecision?.(event);
    },
  };
  const session = async (client: Parameters<typeof bridge>[0]): Promise<Bridge> => {
    if (!options.endTaskOnExit) return bridge(client, upstreamTransport(options.upstream), new ToolGuard(guardOptions), logger);
    const tasks = new SessionTasks(logger);
    const running = await bridge(client, upstreamTransport(options.upstream), new ToolGuard({ ...guardOptions, onTask: (t) => tasks.add(t) }), logger);
    // Started as soon as the session starts closing, alongside the upstream's shutdown.
    const ended = running.closing.then(() => endTasks(verdict, tasks.ids, logger));
    const closed = Promise.all([running.closed, ended]).then(() => undefined);
    return {
      closing: running.closing,
      closed,
      close: () => {
        void running.close();
        return closed;
      },
    };
  };

  if (options.listen) {
    const endpoint = await listenHttp(options.listen, session, logger);
    logger.info(
      { url: endpoint.url, agent: options.agent, server: options.server, forwardCredential: Boolean(options.forwardCredential), endTaskOnExit: Boolean(options.endTaskOnExit) },
      "verdict-mcp listening",
    );
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    return {
      url: endpoint.url,
      closed,
      close: async () => {
        await endpoint.close();
        resolveClosed();
      },
    };
  }
  const running = await session(new StdioServerTransport());
  // The SDK's stdio transport does not report the end of stdin: the client has gone, so stop.
  process.stdin.once("end", () => void running.close());
  return { closed: running.closed, close: running.close };
}
