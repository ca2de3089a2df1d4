/**
 * End to end, real parts only: the official MCP SDK client → `verdict-mcp` (spawned, over
 * stdio) → Verdict (real HTTP, the test database) → the real `server-filesystem` (stdio).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import canonicalize from "canonicalize";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecisionPage } from "../../src/contract/decision-log.js";
import { TEST_ADMIN_KEY } from "../helpers/app.js";
import { denial, FILESYSTEM_SERVER, GATEWAY_BIN } from "../helpers/mcp.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

const SANDBOX_ROOT = "/tmp/verdict-sandbox";
const BOB = { "verdict/user": "bob", "verdict/task": { id: "CHORE-7", kind: "chore" } };

let verdict: TestVerdict;
let client: Client;
let sandbox: string;
let outside: string;

beforeAll(async () => {
  verdict = await startTestVerdict();
  mkdirSync(SANDBOX_ROOT, { recursive: true });
  sandbox = mkdtempSync(join(SANDBOX_ROOT, "e2e-"));
  // A second directory the filesystem server may write to but the policies forbid: a write that
  // got through would leave a file here.
  outside = mkdtempSync("/tmp/verdict-outside-");
  writeFileSync(join(sandbox, "notes.md"), "# runbook\nrestart the db\n");
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [
      GATEWAY_BIN,
      ...["--server", "filesystem", "--agent", "code-assistant", "--verdict-url", verdict.url, "--log-level", "warn"],
      "--",
      process.execPath,
      FILESYSTEM_SERVER,
      sandbox,
      outside,
    ],
    env: { PATH: process.env.PATH ?? "", VERDICT_API_KEY: TEST_ADMIN_KEY },
    stderr: "inherit",
  });
  client = new Client({ name: "e2e-agent", version: "1.0.0" });
  await client.connect(transport);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await verdict?.dispose();
  rmSync(sandbox, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe("verdict-mcp in front of server-filesystem (stdio)", () => {
  it("lists only the tools the agent may use", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toContain("read_text_file");
    // Writes need a user and a task; without them no arguments could be allowed.
    expect(names).not.toContain("write_file");
    const forBob = await client.listTools({ _meta: BOB });
    expect(forBob.tools.map((t) => t.name)).toContain("write_file");
  });

  it("an allowed call returns the upstream's real result", async () => {
    const result = await client.callTool({ name: "read_text_file", arguments: { path: join(sandbox, "notes.md") } });
    expect(result.content).toEqual([{ type: "text", text: "# runbook\nrestart the db\n" }]);
  });

  it("an allowed write inside the sandbox, for a developer on a task, writes the file", async () => {
    const path = join(sandbox, "out.txt");
    const result = await client.callTool({ name: "write_file", arguments: { path, content: "hello" }, _meta: BOB });
    expect(result.isError ?? false).toBe(false);
    expect(result.content).toEqual([{ type: "text", text: `Successfully wrote to ${path}` }]);
    expect(readFileSync(path, "utf8")).toBe("hello");
  });

  it("a denied write_file never reaches the server and leaves no file behind", async () => {
    const path = join(outside, "escape.txt");
    const e = await denial(client.callTool({ name: "write_file", arguments: { path, content: "pwned" }, _meta: BOB }));
    const data = e.data as { decisionId: string; reasons: string[]; message: string };
    expect(data.reasons).toContain("forbid-writes-outside-sandbox");
    expect(data.decisionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(data.message).toBe(`denied by ${data.reasons.join(", ")}`);
    expect(existsSync(path)).toBe(false);

    // The same write inside the sandbox but without a user: no permit applies.
    const inside = join(sandbox, "anonymous.txt");
    await denial(client.callTool({ name: "write_file", arguments: { path: inside, content: "x" } }));
    expect(existsSync(inside)).toBe(false);
  });

  it("records each decision with agent, user, tool, task and arguments hash", async () => {
    const res = await fetch(`${verdict.url}/v1/decisions?agent=code-assistant&tool=write_file`, {
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
    });
    const page = (await res.json()) as DecisionPage;
    const escape = page.decisions.find((d) => (d.arguments as { path?: string }).path === join(outside, "escape.txt"));
    expect(escape).toMatchObject({
      agent: "code-assistant",
      user: "bob",
      server: "filesystem",
      tool: "write_file",
      task: { id: "CHORE-7", kind: "chore" },
      decision: "deny",
      reasons: ["forbid-writes-outside-sandbox"],
    });
    const args = { path: join(outside, "escape.txt"), content: "pwned" };
    expect(escape!.argumentsSha256).toBe(createHash("sha256").update(canonicalize(args)!).digest("hex"));
    expect(page.decisions.filter((d) => d.decision === "allow").map((d) => d.user)).toEqual(["bob"]);
  });

  it("with Verdict stopped, every call is denied with a clear cause and the server is never called", async () => {
    await verdict.stop();
    const path = join(sandbox, "after-stop.txt");
    const write = await denial(client.callTool({ name: "write_file", arguments: { path, content: "x" }, _meta: BOB }));
    expect(write.data).toMatchObject({ decisionId: null, cause: { kind: "network" } });
    expect(write.message).toMatch(/Verdict could not decide \(network\).*fail closed/);
    expect(existsSync(path)).toBe(false);
    const read = await denial(client.callTool({ name: "read_text_file", arguments: { path: join(sandbox, "notes.md") } }));
    expect(read.data).toMatchObject({ decisionId: null, cause: { kind: "network" } });
    await denial(client.listTools());
  });
});
