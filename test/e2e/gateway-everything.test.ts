/**
 * End to end, real parts only: the official MCP SDK client → the gateway (Streamable HTTP on
 * both sides) → Verdict (real HTTP, the test database) → the real `server-everything` over
 * Streamable HTTP. The upstream logs each POST it receives: the test counts them to prove a
 * denied call never reaches it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecisionPage } from "../../src/contract/decision-log.js";
import { startGateway, type Gateway } from "../../packages/mcp/src/gateway/gateway.js";
import { TEST_ADMIN_KEY } from "../helpers/app.js";
import { denial, EVERYTHING_SERVER, LISTENING_PORT, REPORT_LISTEN_PORT } from "../helpers/mcp.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

let verdict: TestVerdict;
let upstream: ChildProcess;
let upstreamPosts = 0;
let gateway: Gateway;
let client: Client;
const TASK = { "verdict/user": "bob", "verdict/task": { id: "TEST-42", kind: "integration-test" } };

beforeAll(async () => {
  verdict = await startTestVerdict();
  // PORT=0: server-everything binds a port of its own choosing; the preload reports which.
  upstream = spawn(process.execPath, ["--import", REPORT_LISTEN_PORT, EVERYTHING_SERVER, "streamableHttp"], {
    env: { ...process.env, PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  upstream.stdout!.on("data", (chunk: Buffer) => (upstreamPosts += chunk.toString().split("Received MCP POST request").length - 1));
  let stderr = "";
  const port = await new Promise<number>((resolve, reject) => {
    upstream.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = LISTENING_PORT.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    upstream.once("exit", (code) => reject(new Error(`server-everything exited with ${code}: ${stderr}`)));
  });
  gateway = await startGateway({
    verdict: { baseUrl: verdict.url, apiKey: TEST_ADMIN_KEY },
    agent: "code-assistant",
    server: "everything",
    upstream: { url: `http://127.0.0.1:${port}/mcp` },
    listen: { port: 0 },
    logger: pino({ level: "silent" }),
  });
  client = new Client({ name: "e2e-http-agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url!)));
}, 60_000);

afterAll(async () => {
  await client?.close();
  await gateway?.close();
  upstream?.kill();
  await verdict?.dispose();
});

describe("the gateway over Streamable HTTP in front of server-everything", () => {
  it("hides get-env from tools/list", async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["echo", "get-sum"]));
    expect(names).not.toContain("get-env");
  });

  it("an allowed call returns the upstream's real result", async () => {
    const before = upstreamPosts;
    const result = await client.callTool({ name: "get-sum", arguments: { a: 2, b: 40 }, _meta: TASK });
    expect(result.content).toEqual([{ type: "text", text: "The sum of 2 and 40 is 42." }]);
    expect(upstreamPosts).toBeGreaterThan(before);
  });

  it("denies get-env when called anyway, and the upstream never sees it", async () => {
    const before = upstreamPosts;
    const e = await denial(client.callTool({ name: "get-env", arguments: {}, _meta: TASK }));
    expect(e.data).toMatchObject({ reasons: ["forbid-get-env"], decisionId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(upstreamPosts).toBe(before);
  });

  it("passes resources and prompts through unchanged", async () => {
    const resources = await client.listResources();
    expect(resources.resources.length).toBeGreaterThan(0);
    const first = resources.resources[0]!;
    const read = await client.readResource({ uri: first.uri });
    expect(read.contents[0]!.uri).toBe(first.uri);
    const prompts = await client.listPrompts();
    expect(prompts.prompts.map((p) => p.name).length).toBeGreaterThan(0);
  });

  it("records the decisions with agent, user, tool, task and arguments hash", async () => {
    const res = await fetch(`${verdict.url}/v1/decisions?server=everything&task=TEST-42`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
    const page = (await res.json()) as DecisionPage;
    expect(page.decisions.map((d) => [d.tool, d.decision])).toEqual([
      ["get-env", "deny"],
      ["get-sum", "allow"],
    ]);
    for (const d of page.decisions) {
      expect(d).toMatchObject({ agent: "code-assistant", user: "bob", task: { id: "TEST-42", kind: "integration-test" } });
      expect(d.argumentsSha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it("refuses a foreign Host or Origin (DNS-rebinding protection)", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} });
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
    const badOrigin = await fetch(gateway.url!, { method: "POST", body, headers: { ...headers, origin: "http://evil.example" } });
    expect(badOrigin.status).toBe(403);
    const port = new URL(gateway.url!).port;
    const { request } = await import("node:http");
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path: "/mcp", method: "POST", headers: { ...headers, host: `evil.example:${port}` } }, (r) => {
        r.resume();
        resolve(r.statusCode!);
      });
      req.on("error", reject);
      req.end(body);
    });
    expect(status).toBe(403);
  });

  it("with Verdict stopped, calls are denied with a clear cause and the upstream is never called", async () => {
    await verdict.stop();
    const before = upstreamPosts;
    const e = await denial(client.callTool({ name: "echo", arguments: { message: "hi" }, _meta: TASK }));
    expect(e.data).toMatchObject({ decisionId: null, cause: { kind: "network" } });
    expect(upstreamPosts).toBe(before);
  });
});
