/**
 * The gateway's Streamable HTTP endpoint (MCP 2025-06-18 "Transports: Streamable HTTP"): one
 * session per client, each bridged to its own upstream transport. It checks `Host` and
 * `Origin` itself: behind a proxy, the upstream's DNS-rebinding protection sees only the gateway.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Logger } from "pino";
import type { Bridge } from "./bridge.js";

/** Where and for whom the endpoint listens. */
export interface HttpListenOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Host names (without port) accepted in `Host` and in `Origin`; default localhost, 127.0.0.1 and ::1. */
  allowedHosts?: string[];
  /** Further origins accepted in `Origin`, exactly as browsers send them (`https://app.example`). */
  allowedOrigins?: string[];
  /** URL path of the endpoint; default `/mcp`. */
  path?: string;
}

/** The largest `initialize` body read before a session exists (the SDK's own limit, 4 MiB, applies after). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The default `Host` allow-list: the loopback names only. */
export const DEFAULT_ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "::1"];

/** Starts one session: bridges the given client transport to a new upstream transport. */
export type SessionStarter = (client: StreamableHTTPServerTransport) => Promise<Bridge>;

/** A listening endpoint. */
export interface HttpEndpoint {
  /** The endpoint's URL, e.g. `http://127.0.0.1:43121/mcp`. */
  url: string;
  /** Closes every session and the listener. */
  close(): Promise<void>;
}

/**
 * Listens for MCP clients over Streamable HTTP.
 * @throws when the port cannot be bound
 */
export async function listenHttp(options: HttpListenOptions, startSession: SessionStarter, logger: Logger): Promise<HttpEndpoint> {
  const host = options.host ?? "127.0.0.1";
  const path = options.path ?? "/mcp";
  const hosts = new Set((options.allowedHosts ?? DEFAULT_ALLOWED_HOSTS).map((h) => h.toLowerCase()));
  const origins = new Set(options.allowedOrigins ?? []);
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; bridge: Bridge }>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refused = checkHostAndOrigin(req, hosts, origins);
    if (refused) return reply(res, 403, refused);
    if (new URL(req.url ?? "/", "http://x").pathname !== path) return reply(res, 404, `no MCP endpoint here; use ${path}`);
    const sessionId = req.headers["mcp-session-id"];
    if (typeof sessionId === "string") {
      const session = sessions.get(sessionId);
      if (!session) return reply(res, 404, "session not found", -32000);
      return session.transport.handleRequest(req, res);
    }
    if (req.method !== "POST") return reply(res, 400, "no mcp-session-id: start a session with a POST of initialize", -32000);
    const text = await readBody(req);
    if (text === undefined) return reply(res, 413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return reply(res, 400, "the body is not JSON", -32700);
    }
    const messages = Array.isArray(body) ? body : [body];
    if (!messages.some((m) => (m as { method?: unknown })?.method === "initialize")) {
      return reply(res, 400, "no mcp-session-id: the first request of a session must be initialize", -32000);
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, bridge });
        logger.info({ session: id }, "session started");
      },
    });
    const bridge = await startSession(transport);
    void bridge.closed.then(() => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    });
    await transport.handleRequest(req, res, body);
    if (!transport.sessionId) await bridge.close();
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      logger.error({ err: String(e) }, "request failed");
      // The cause is in the log line above; the client gets a fixed sentence.
      if (!res.headersSent) reply(res, 500, "gateway error; see the gateway's log", -32603);
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}${path}`;
  return {
    url,
    close: async () => {
      await Promise.allSettled([...sessions.values()].map((s) => s.bridge.close()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The reason to refuse a request whose `Host` or `Origin` is not allowed, or undefined. */
function checkHostAndOrigin(req: IncomingMessage, hosts: Set<string>, origins: Set<string>): string | undefined {
  const hostHeader = req.headers.host;
  if (!hostHeader) return "missing Host header";
  const hostname = hostnameOf(`http://${hostHeader}`);
  if (!hostname || !hosts.has(hostname)) return `Host ${JSON.stringify(hostHeader)} is not allowed (DNS-rebinding protection)`;
  const origin = req.headers.origin;
  if (origin !== undefined && !origins.has(origin)) {
    const originHost = hostnameOf(origin);
    if (!originHost || !hosts.has(originHost)) return `Origin ${JSON.stringify(origin)} is not allowed`;
  }
  return undefined;
}

function hostnameOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

function reply(res: ServerResponse, status: number, message: string, code = -32000): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));
}

/** The body of a session's first request, or undefined when it exceeds `MAX_BODY_BYTES`. */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on("end", () => resolve(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
