/**
 * The thin SDK against a real Verdict over HTTP, and its fail-closed behaviour against real
 * misbehaving HTTP servers (silent, non-JSON, off-contract) and an unreachable port.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative } from "node:path";
import { VerdictClient } from "@verdict/sdk";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, TEST_ADMIN_KEY } from "../helpers/app.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

let verdict: TestVerdict;
let client: VerdictClient;
const servers: Server[] = [];

/** A real HTTP server answering every request with `handler`; returns its base URL. */
async function misbehaving(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  verdict = await startTestVerdict();
  client = new VerdictClient({ baseUrl: verdict.url, apiKey: TEST_ADMIN_KEY });
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await verdict?.dispose();
});

const read = { agent: "code-assistant", server: "filesystem", tool: "read_text_file", arguments: { path: "/tmp/verdict-sandbox/a.md" } };

describe("the SDK against Verdict", () => {
  it("callTool returns Verdict's allow and deny", async () => {
    const allow = await client.callTool(read);
    expect(allow).toMatchObject({ decision: "allow", reasons: ["allow-file-reads"] });
    expect(allow.cause).toBeUndefined();
    const deny = await client.callTool({ ...read, agent: "report-bot" });
    expect(deny.decision).toBe("deny");
    expect(deny.decisionId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("listTools filters, authorize and authorizeBatch decide any Cedar request", async () => {
    const list = await client.listTools({
      agent: "code-assistant",
      server: "everything",
      tools: [{ name: "get-env", inputSchema: { type: "object", properties: {} } }],
    });
    expect(list.tools).toEqual([]);
    expect(list.hidden.map((h) => h.name)).toEqual(["get-env"]);
    const request = {
      principal: { type: "Mcp::Agent", id: "code-assistant" },
      action: { type: "Mcp::Action", id: "everything/get-env" },
      resource: { type: "Mcp::Server", id: "everything" },
      context: { input: {}, session: { requestTime: 1_790_000_000, hourUtc: 12, weekdayUtc: 3 } },
    };
    expect((await client.authorize(request)).decision).toBe("deny");
    const batch = await client.authorizeBatch({ requests: [request, request] });
    expect(batch.results.map((r) => r.reasons)).toEqual([["forbid-get-env"], ["forbid-get-env"]]);
  });

  it("decisions reads the record with its filters", async () => {
    const page = await client.decisions({ agent: "report-bot", limit: 5 });
    expect(page.cause).toBeUndefined();
    expect(page.decisions.map((d) => [d.agent, d.tool, d.decision])).toEqual([["report-bot", "read_text_file", "deny"]]);
  });

  it("decisions tells no decisions (no cause) from could not ask (an empty page with the cause)", async () => {
    const none = await client.decisions({ agent: "nobody-has-asked" });
    expect(none).toEqual({ decisions: [], nextCursor: null });
    expect("cause" in none).toBe(false);
    // A key Verdict does not know: Verdict answers 401, so the record could not be read.
    const refused = await new VerdictClient({ baseUrl: verdict.url, apiKey: "vk_not-a-key" }).decisions({ agent: "report-bot" });
    expect(refused).toMatchObject({ decisions: [], nextCursor: null, cause: { kind: "http", status: 401, code: "unauthorized" } });
    // A pep key may decide but not read the record: 403.
    const created = await fetch(`${verdict.url}/v1/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "sdk-decisions-pep", role: "pep" }),
    });
    const { key } = (await created.json()) as { key: string };
    const pep = await new VerdictClient({ baseUrl: verdict.url, apiKey: key }).decisions();
    expect(pep).toMatchObject({ decisions: [], cause: { kind: "http", status: 403, code: "forbidden" } });
  });
});

describe("the SDK ends tasks", () => {
  it("endTask ends a task: later calls naming it are denied verdict:task-ended; ending again is idempotent", async () => {
    const task = { id: `SDK-END-${Date.now()} é/#?` };
    expect((await client.callTool({ ...read, task })).decision).toBe("allow");
    const ended = await client.endTask(task.id, { reason: "done" });
    expect(ended.cause).toBeUndefined();
    if (ended.cause) return;
    expect(ended).toMatchObject({ task: { id: task.id }, alreadyEnded: false, endedBy: expect.any(String) });
    expect(ended.recordId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(ended.endedAt))).toBe(false);
    const after = await client.callTool({ ...read, task });
    expect(after).toMatchObject({ decision: "deny", reasons: ["verdict:task-ended"] });
    expect(after.cause).toBeUndefined();
    // Another task, and no task, are not affected.
    expect((await client.callTool({ ...read, task: { id: `${task.id}-other` } })).decision).toBe("allow");
    expect((await client.callTool(read)).decision).toBe("allow");
    const again = await client.endTask(task.id);
    expect(again).toEqual({ ...ended, alreadyEnded: true });
    const records = await client.decisions({ kind: "task/end", task: task.id });
    expect(records.decisions.map((d) => [d.id, d.kind, d.decision])).toEqual([[ended.recordId, "task/end", "deny"]]);
  });

  it("endTask resolves to the cause when Verdict refuses", async () => {
    const created = await fetch(`${verdict.url}/v1/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "sdk-end-auditor", role: "auditor" }),
    });
    const { key } = (await created.json()) as { key: string };
    const auditor = await new VerdictClient({ baseUrl: verdict.url, apiKey: key }).endTask("SDK-END-AUDITOR");
    expect(auditor).toEqual({ cause: expect.objectContaining({ kind: "http", status: 403, code: "forbidden" }) });
    const tooLong = await client.endTask("SDK-END-REASON", { reason: "x".repeat(1001) });
    expect(tooLong.cause).toMatchObject({ kind: "http", status: 400 });
    // Neither request ended its task.
    expect((await client.callTool({ ...read, task: { id: "SDK-END-AUDITOR" } })).decision).toBe("allow");
    expect((await client.callTool({ ...read, task: { id: "SDK-END-REASON" } })).decision).toBe("allow");
  });
});

describe("the SDK fails closed", () => {
  it("a 400 is a deny carrying Verdict's error", async () => {
    const d = await client.callTool({ ...read, agent: "" });
    expect(d).toMatchObject({ decision: "deny", decisionId: null, cause: { kind: "http", status: 400, error: { code: expect.any(String) } } });
  });

  it("an unreachable Verdict is a deny, never an exception", async () => {
    // Port 0 is never listened on, so the connection is refused every time; a port probed free
    // and released could be taken by another process in between.
    const c = new VerdictClient({ baseUrl: "http://127.0.0.1:0" });
    expect((await c.callTool(read)).cause?.kind).toBe("network");
    const list = await c.listTools({ agent: "a", server: "s", tools: [{ name: "t" }] });
    expect(list).toMatchObject({ tools: [], hidden: [{ name: "t" }], cause: { kind: "network" } });
    expect((await c.decisions()).cause?.kind).toBe("network");
    const ended = await c.endTask("T-1");
    expect(ended).toEqual({ cause: expect.objectContaining({ kind: "network" }) });
  });

  it("a Verdict slower than the timeout is a deny", async () => {
    const url = await misbehaving(() => undefined);
    const started = Date.now();
    const d = await new VerdictClient({ baseUrl: url, timeout: 200 }).callTool(read);
    expect(d).toMatchObject({ decision: "deny", cause: { kind: "timeout" } });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("an allow that does not match the contract is a deny", async () => {
    const url = await misbehaving((_, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"decision":"allow"}'));
    const d = await new VerdictClient({ baseUrl: url }).callTool(read);
    expect(d).toMatchObject({ decision: "deny", cause: { kind: "invalid-response" } });
    const batch = await new VerdictClient({ baseUrl: url }).authorizeBatch({ requests: [{ principal: { type: "a", id: "b" }, action: { type: "a", id: "b" }, resource: { type: "a", id: "b" } }] });
    expect(batch.results).toMatchObject([{ decision: "deny", cause: { kind: "invalid-response" } }]);
    expect(await new VerdictClient({ baseUrl: url }).endTask("T-1")).toEqual({ cause: expect.objectContaining({ kind: "invalid-response" }) });
  });

  it("an end answered for another task is not taken as this task's end", async () => {
    const other = { task: { id: "T-2" }, endedAt: "2026-01-01T00:00:00.000Z", recordId: "r", endedBy: null, alreadyEnded: false };
    const seen: string[] = [];
    const url = await misbehaving((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(other));
    });
    const ended = await new VerdictClient({ baseUrl: url }).endTask("T 1/x");
    expect(ended.cause).toMatchObject({ kind: "invalid-response", message: expect.stringContaining('"T-2"') });
    expect(seen).toEqual(["POST /v1/tasks/T%201%2Fx/end"]);
  });

  it("a body that is not JSON is a deny", async () => {
    const url = await misbehaving((_, res) => res.writeHead(200).end("<html>proxy login</html>"));
    expect((await new VerdictClient({ baseUrl: url }).callTool(read)).cause).toMatchObject({ kind: "invalid-response" });
  });

  it("uses an injected fetch, and a fetch that throws is a deny", async () => {
    const seen: string[] = [];
    const c = new VerdictClient({
      baseUrl: "http://verdict.invalid",
      apiKey: "k-123",
      fetch: async (input, init) => {
        seen.push(`${String(input)} ${new Headers(init?.headers).get("authorization")}`);
        throw new TypeError("boom");
      },
    });
    expect((await c.callTool(read)).cause).toMatchObject({ kind: "network", message: expect.stringContaining("boom") });
    expect(seen).toEqual(["http://verdict.invalid/v1/mcp/tools/call Bearer k-123"]);
  });
});

describe("the packages import nothing from the server side", () => {
  async function bundledFiles(entry: string): Promise<{ files: string[]; external: string[] }> {
    const result = await build({ entryPoints: [entry], absWorkingDir: ROOT, bundle: true, write: false, metafile: true, platform: "node", format: "esm", packages: "external", logLevel: "silent" });
    const files = Object.keys(result.metafile.inputs);
    const external = Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
    return { files, external: [...new Set(external)] };
  }

  it("@verdict/sdk bundles only packages/sdk/src, and needs only zod, jose and canonicalize", async () => {
    const { files, external } = await bundledFiles("packages/sdk/src/index.ts");
    expect(files).toContain("packages/sdk/src/client.ts");
    expect(files).toContain("packages/sdk/src/credential.ts");
    expect(files.filter((f) => !f.startsWith("packages/sdk/src/"))).toEqual([]);
    expect(external.sort()).toEqual(["canonicalize", "jose", "node:crypto", "zod"]);
  });

  it("@verdict/mcp bundles only packages/mcp/src, and takes the SDK as @verdict/sdk (the MCP SDK is types only in the middleware)", async () => {
    const middleware = await bundledFiles("packages/mcp/src/middleware/index.ts");
    expect(middleware.files).toContain("packages/mcp/src/middleware/guard.ts");
    expect(middleware.files.filter((f) => !f.startsWith("packages/mcp/src/middleware/"))).toEqual([]);
    expect(middleware.external.sort()).toEqual(["@verdict/sdk"]);
    const gateway = await bundledFiles("packages/mcp/src/gateway/cli.ts");
    expect(gateway.files).toContain("packages/mcp/src/gateway/gateway.ts");
    expect(gateway.files.filter((f) => !f.startsWith("packages/mcp/src/"))).toEqual([]);
    const packages = gateway.external.filter((e) => !e.startsWith("node:")).map((e) => e.match(/^(@[^/]+\/[^/]+|[^/]+)/)![1]);
    expect([...new Set(packages)].sort()).toEqual(["@modelcontextprotocol/sdk", "@verdict/sdk", "commander", "pino"]);
  });

  it("the packages declare what they import, and only src/contract/ of the server imports from packages/", () => {
    const sdk = JSON.parse(readFileSync(join(ROOT, "packages", "sdk", "package.json"), "utf8"));
    expect(Object.keys(sdk.dependencies).sort()).toEqual(["canonicalize", "jose", "zod"]);
    const mcp = JSON.parse(readFileSync(join(ROOT, "packages", "mcp", "package.json"), "utf8"));
    expect(mcp.dependencies["@verdict/sdk"]).toBe(sdk.version);
    expect(Object.keys(mcp.dependencies).sort()).toEqual(["@verdict/sdk", "commander", "pino"]);
    expect(Object.keys(mcp.peerDependencies)).toEqual(["@modelcontextprotocol/sdk"]);
    const importers = readdirSync(join(ROOT, "src"), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith(".ts"))
      .map((e) => join(e.parentPath, e.name))
      .filter((f) => /from "(\.\.\/)+packages\/|from "@verdict\//.test(readFileSync(f, "utf8")))
      .map((f) => relative(ROOT, f));
    expect(importers.length).toBeGreaterThan(0);
    expect(importers.filter((f) => !f.startsWith("src/contract/"))).toEqual([]);
  });
});
