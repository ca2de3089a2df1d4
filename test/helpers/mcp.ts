/** Paths and launch helpers for the real MCP servers and the gateway used by end-to-end tests. */
import { createServer } from "node:net";
import { join } from "node:path";
import { ROOT } from "./app.js";

/** The installed `server-filesystem` entry point. */
export const FILESYSTEM_SERVER = join(ROOT, "node_modules", "@modelcontextprotocol", "server-filesystem", "dist", "index.js");
/** The installed `server-everything` entry point (`streamableHttp` argument for HTTP; it reads `PORT`). */
export const EVERYTHING_SERVER = join(ROOT, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js");
/** The `verdict-mcp` bin. */
export const GATEWAY_BIN = join(ROOT, "bin", "verdict-mcp.js");

/** A TCP port free at the time of the call, for servers that cannot be told to use port 0. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
