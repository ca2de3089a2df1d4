/** Paths and launch helpers for the real MCP servers and the gateway used by end-to-end tests. */
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

/**
 * A module to preload (`node --import`) into a server given PORT=0 that does not log the port it
 * bound: it prints `verdict-test: listening on port <n>` on stderr ({@link LISTENING_PORT}).
 */
export const REPORT_LISTEN_PORT = join(ROOT, "test", "fixtures", "report-listen-port.mjs");
/** Reads the port from the line {@link REPORT_LISTEN_PORT} prints. */
export const LISTENING_PORT = /verdict-test: listening on port (\d+)/;

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
