/** Paths and launch helpers for the real MCP servers and the gateway used by end-to-end tests. */
import { createServer } from "node:net";
import { join } from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { expect } from "vitest";
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

/**
 * The error a denied call through the gateway rejects with, checked to be an `McpError` with
 * code -32001 (the AuthZEN MCP profile draft's code, `DENIED_CODE` in the middleware).
 */
export async function denial(p: Promise<unknown>): Promise<McpError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(McpError);
  expect((e as McpError).code).toBe(-32001);
  return e as McpError;
}
