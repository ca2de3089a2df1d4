import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { KnownServer } from "./servers.js";

/** An MCP `tools/list` result object as pinned in `schema/servers/<server>.json` (MCP 2025-06-18 tools). */
export interface ToolCatalog {
  tools: Array<Record<string, unknown> & { name: string }>;
}

/**
 * Spawns an MCP server over stdio, asks it for `tools/list` (following `nextCursor` pages)
 * through the official MCP SDK client, and closes it.
 *
 * @param command executable to spawn, e.g. `process.execPath`
 * @param args its arguments
 * @returns the `{tools}` object, tools in the order the server listed them
 * @throws when the server cannot be spawned or does not answer `initialize` / `tools/list`
 */
export async function captureStdioCatalog(command: string, args: string[], cwd?: string): Promise<ToolCatalog> {
  return captureCatalog(new StdioClientTransport({ command, args, cwd, stderr: "pipe" }));
}

/**
 * Connects to an MCP server over Streamable HTTP (MCP 2025-06-18 transports) and asks it for
 * `tools/list`, following `nextCursor` pages.
 * @param url the server's MCP endpoint, e.g. `http://127.0.0.1:3001/mcp`
 * @param headers extra request headers (e.g. `Authorization`)
 * @throws when the server cannot be reached or does not answer `initialize` / `tools/list`
 */
export async function captureHttpCatalog(url: string, headers: Record<string, string> = {}): Promise<ToolCatalog> {
  return captureCatalog(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
}

async function captureCatalog(transport: Transport): Promise<ToolCatalog> {
  const client = new Client({ name: "verdict-catalog-capture", version: "0.1.0" });
  await client.connect(transport);
  try {
    const tools: ToolCatalog["tools"] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined);
      tools.push(...(page.tools as ToolCatalog["tools"]));
      cursor = page.nextCursor;
    } while (cursor);
    return { tools };
  } finally {
    await client.close();
  }
}

/**
 * Captures the catalog of one of Verdict's known servers from its installed npm package,
 * in a scratch directory that is removed afterwards.
 */
export async function captureKnownServer(server: KnownServer): Promise<ToolCatalog> {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve(`${server.packageName}/package.json`));
  const scratch = mkdtempSync(join(tmpdir(), `verdict-${server.id}-`));
  try {
    const args = server.args.map((a) => a.replace("{scratch}", scratch));
    return await captureStdioCatalog(process.execPath, [join(root, server.bin), ...args], scratch);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
