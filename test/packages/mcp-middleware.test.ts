/**
 * The MCP middleware on a server built with the official MCP SDK (low-level `Server`), talked to
 * by the official client over the SDK's in-memory transport, asking a real Verdict over HTTP.
 * The server offers two tools of the pinned `everything` catalog and counts the calls its
 * handler receives.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { CallToolRequestSchema, ListToolsRequestSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { connectWithVerdict, DENIED_CODE, type GuardEvent } from "@verdict/mcp";
import { VerdictClient } from "@verdict/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SCHEMA_DIR, TEST_ADMIN_KEY } from "../helpers/app.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

const catalog = JSON.parse(readFileSync(join(EXAMPLE_SCHEMA_DIR, "servers", "everything.json"), "utf8")) as { tools: Array<{ name: string }> };
const offered = catalog.tools.filter((t) => t.name === "echo" || t.name === "get-env");

let verdict: TestVerdict;
let client: Client;
const handled: string[] = [];
const events: GuardEvent[] = [];

beforeAll(async () => {
  verdict = await startTestVerdict();
  const server = new Server({ name: "guarded", version: "1.0.0" }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: offered }) as never);
  server.setRequestHandler(CallToolRequestSchema, (req) => {
    handled.push(req.params.name);
    return { content: [{ type: "text", text: `ran ${req.params.name}` }] };
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await connectWithVerdict(server, serverSide, {
    verdict: new VerdictClient({ baseUrl: verdict.url, apiKey: TEST_ADMIN_KEY }),
    agent: "code-assistant",
    server: "everything",
    user: "bob",
    onDecision: (e) => events.push(e),
  });
  client = new Client({ name: "middleware-test", version: "1.0.0" });
  await client.connect(clientSide);
});

afterAll(async () => {
  await client?.close();
  await verdict?.dispose();
});

describe("guardTransport on an MCP SDK server", () => {
  it("filters tools/list", async () => {
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["echo"]);
  });

  it("runs the handler of an allowed call", async () => {
    const result = await client.callTool({ name: "echo", arguments: { message: "hi" } });
    expect(result.content).toEqual([{ type: "text", text: "ran echo" }]);
    expect(handled).toEqual(["echo"]);
  });

  it("never runs the handler of a denied call", async () => {
    const e = await client.callTool({ name: "get-env", arguments: {} }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(McpError);
    expect((e as McpError).code).toBe(DENIED_CODE);
    expect((e as McpError).data).toMatchObject({ reasons: ["forbid-get-env"] });
    expect(handled).toEqual(["echo"]);
  });

  it("rejects a malformed verdict/task in _meta as invalid params, without asking or calling", async () => {
    const e = await client.callTool({ name: "echo", arguments: { message: "x" }, _meta: { "verdict/task": 7 } }).catch((err: unknown) => err);
    expect((e as McpError).code).toBe(-32602);
    expect(handled).toEqual(["echo"]);
  });

  it("reports each decision with the configured user", () => {
    const calls = events.filter((e) => e.kind === "tools/call");
    expect(calls.map((e) => [e.tool, e.user, e.decision.decision])).toEqual([
      ["echo", "bob", "allow"],
      ["get-env", "bob", "deny"],
    ]);
  });
});
