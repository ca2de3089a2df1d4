/**
 * Task memory through the gateway, real parts only: the official MCP SDK client → `verdict-mcp`
 * (spawned, over stdio) → Verdict (real HTTP, the test database) → the real `server-filesystem`.
 * A project declares its file-read tools `reads-secrets` (`schema/groups.json`) and forbids a
 * write in a task that read one (a chain rule). The filesystem server may write to a directory
 * outside the project, and the permits allow it there: only the chain rule stops the write.
 * It is per task: another task makes the same write. With `--end-task-on-exit`, the tasks a
 * session named are ended when the client goes away (stdin closed, or SIGTERM), and Verdict
 * denies any later call naming them `verdict:task-ended`; without the flag they stay open.
 */
import { randomUUID } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { DecisionRecord, DecisionResponse, TransportRequest } from "@verdict/sdk";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endTasks, END_TASK_REASON } from "../../packages/mcp/src/gateway/end-tasks.js";
import { startGateway } from "../../packages/mcp/src/gateway/gateway.js";
import { VerdictClient } from "@verdict/sdk";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, TEST_ADMIN_KEY } from "../helpers/app.js";
import { denial, FILESYSTEM_SERVER, GATEWAY_BIN } from "../helpers/mcp.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

/** The chain rule of the must-show, as a security team writes it. */
const CHAIN_RULE = `@id("no-writes-after-secrets")
forbid (principal, action == Mcp::Action::"filesystem/write_file", resource)
when { context.session.history.actions.contains("reads-secrets") };
`;

/** The filesystem server's file-read tools, declared `reads-secrets`. */
const GROUPS = {
  "reads-secrets": ["filesystem/read_file", "filesystem/read_text_file", "filesystem/read_media_file", "filesystem/read_multiple_files"],
};

let verdict: TestVerdict;
/** The project (policies, schema and its workspace, the agent's sandbox). */
let project: string;
let workspace: string;
/** Outside the project: the filesystem server may write here, and the permits allow it. */
let outside: string;
let pepKey: string;
let auditorKey: string;
const gateways: Array<{ client: Client; transport: StdioClientTransport }> = [];

/** Writes the project: the example entities and filesystem catalog, the groups, two permits and the chain rule. */
function writeProject(): void {
  const policyDir = join(project, "policies");
  mkdirSync(policyDir);
  mkdirSync(join(project, "schema", "servers"), { recursive: true });
  copyFileSync(join(EXAMPLE_SCHEMA_DIR, "mcp.cedarschema"), join(project, "schema", "mcp.cedarschema"));
  copyFileSync(join(EXAMPLE_SCHEMA_DIR, "servers", "filesystem.json"), join(project, "schema", "servers", "filesystem.json"));
  writeFileSync(join(project, "schema", "groups.json"), JSON.stringify(GROUPS, null, 2));
  copyFileSync(join(EXAMPLE_POLICY_DIR, "entities.json"), join(policyDir, "entities.json"));
  writeFileSync(
    join(policyDir, "permits.cedar"),
    `@id("allow-reads")
permit (
  principal in Mcp::AgentGroup::"coding-agents",
  action in [Mcp::Action::"filesystem/read_text_file", Mcp::Action::"filesystem/list_allowed_directories"],
  resource == Mcp::Server::"filesystem"
);

@id("allow-writes-on-a-task")
permit (
  principal in Mcp::AgentGroup::"coding-agents",
  action == Mcp::Action::"filesystem/write_file",
  resource == Mcp::Server::"filesystem"
)
when {
  context.session has task &&
  (context.input.path like "${workspace}/*" || context.input.path like "${outside}/*")
};
`,
  );
  writeFileSync(join(policyDir, "chain.cedar"), CHAIN_RULE);
}

async function createKey(role: string): Promise<string> {
  const res = await fetch(`${verdict.url}/v1/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ name: `gateway-task-memory-${role}`, role }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { key: string }).key;
}

/** Spawns `verdict-mcp` (with `flags`) in front of the filesystem server and connects a client; its stderr is collected. */
async function connectGateway(flags: string[], verdictUrl = verdict.url): Promise<{ client: Client; transport: StdioClientTransport; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [
      GATEWAY_BIN,
      ...["--server", "filesystem", "--agent", "code-assistant", "--verdict-url", verdictUrl, "--log-level", "info"],
      ...flags,
      "--",
      process.execPath,
      FILESYSTEM_SERVER,
      workspace,
      outside,
    ],
    env: { PATH: process.env.PATH ?? "", VERDICT_API_KEY: pepKey },
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: "e2e-agent", version: "1.0.0" });
  await client.connect(transport);
  gateways.push({ client, transport });
  return { client, transport, stderr: () => stderr };
}

async function get<T>(path: string, key = auditorKey): Promise<T> {
  const res = await fetch(`${verdict.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

/** The task/end records of a task (`GET /v1/decisions?kind=task/end&task=`, auditor key). */
async function taskEnds(task: string): Promise<DecisionRecord[]> {
  const page = await get<{ decisions: DecisionRecord[] }>(`/v1/decisions?kind=task/end&task=${encodeURIComponent(task)}`);
  return page.decisions;
}

/** Asks Verdict's HTTP API directly (a pep key) about a read naming `task`. */
async function callNaming(task: string): Promise<DecisionResponse> {
  const res = await fetch(`${verdict.url}/v1/mcp/tools/call`, {
    method: "POST",
    headers: { authorization: `Bearer ${pepKey}`, "content-type": "application/json" },
    body: JSON.stringify({ agent: "code-assistant", server: "filesystem", tool: "read_text_file", arguments: { path: join(workspace, "notes.md") }, task: { id: task } }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as DecisionResponse;
}

/** The gateway's log lines (pino JSON on stderr) with this message. */
function logLines(stderr: string, msg: string): Array<Record<string, unknown>> {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

const meta = (task: string) => ({ "verdict/task": { id: task, kind: "chore" } });

beforeAll(async () => {
  // Under /tmp (not the OS's temp dir, which may be a symlink): the filesystem server resolves
  // the real path of each allowed directory, and the policies match the path the agent sends.
  project = mkdtempSync("/tmp/verdict-task-memory-project-");
  workspace = join(project, "workspace");
  mkdirSync(workspace);
  outside = mkdtempSync("/tmp/verdict-task-memory-outside-");
  writeFileSync(join(workspace, ".env"), "DB_PASSWORD=hunter2\n");
  writeFileSync(join(workspace, "notes.md"), "# notes\n");
  writeProject();
  verdict = await startTestVerdict({ policyDir: join(project, "policies"), schemaDir: join(project, "schema") });
  pepKey = await createKey("pep");
  auditorKey = await createKey("auditor");
}, 120_000);

afterAll(async () => {
  for (const g of gateways) await g.client.close().catch(() => undefined);
  await verdict?.dispose();
  rmSync(project, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
}, 60_000);

describe("verdict-mcp and task memory (server-filesystem over stdio)", () => {
  const chained = `CHAIN-${randomUUID()}`;
  const other = `OTHER-${randomUUID()}`;
  const target = () => join(outside, "exfil.txt");
  let gateway: Awaited<ReturnType<typeof connectGateway>>;

  beforeAll(async () => {
    gateway = await connectGateway(["--end-task-on-exit"]);
  }, 60_000);

  it("a read of a reads-secrets file, then a write outside the project in the same task: denied by the chain rule, nothing written", async () => {
    const read = await gateway.client.callTool({ name: "read_text_file", arguments: { path: join(workspace, ".env") }, _meta: meta(chained) });
    expect(read.content).toEqual([{ type: "text", text: "DB_PASSWORD=hunter2\n" }]);

    const e = await denial(gateway.client.callTool({ name: "write_file", arguments: { path: target(), content: "DB_PASSWORD=hunter2\n" }, _meta: meta(chained) }));
    const data = e.data as { decisionId: string; reasons: string[] };
    expect(data.reasons).toEqual(["no-writes-after-secrets"]);
    expect(existsSync(target())).toBe(false);

    // The record: the chain rule alone determined the deny, on the history the decision saw.
    const record = await get<DecisionRecord>(`/v1/decisions/${data.decisionId}`);
    expect(record).toMatchObject({ kind: "tools/call", tool: "write_file", task: { id: chained }, decision: "deny", reasons: ["no-writes-after-secrets"] });
    const history = (record.request as { context: { session: { history: { calls: number; actions: string[] } } } }).context.session.history;
    expect(history.calls).toBe(1);
    expect(history.actions).toEqual(expect.arrayContaining(["filesystem/read_text_file", "reads-secrets"]));
  });

  it("the rule is per task: in another task the same write is allowed and writes the file", async () => {
    const result = await gateway.client.callTool({ name: "write_file", arguments: { path: target(), content: "DB_PASSWORD=hunter2\n" }, _meta: meta(other) });
    expect(result.isError ?? false).toBe(false);
    expect(readFileSync(target(), "utf8")).toBe("DB_PASSWORD=hunter2\n");
  });

  it("--end-task-on-exit: once the client closes, both tasks are ended and Verdict denies any later call naming them", async () => {
    expect(await taskEnds(chained)).toEqual([]);
    await gateway.client.close();
    // The client's close waits for the gateway to exit; the gateway ends its tasks first.
    for (const task of [chained, other]) {
      const ends = await taskEnds(task);
      expect(ends).toHaveLength(1);
      expect(ends[0]).toMatchObject({ kind: "task/end", task: { id: task }, decision: "deny", message: expect.stringContaining("--end-task-on-exit") });
      const after = await callNaming(task);
      expect(after).toMatchObject({ decision: "deny", reasons: ["verdict:task-ended"] });
    }
    const ended = logLines(gateway.stderr(), "task ended");
    expect(ended.map((l) => l.task).sort()).toEqual([chained, other].sort());
    expect(ended.every((l) => l.alreadyEnded === false)).toBe(true);
    // A task never named in the session is not touched.
    expect((await callNaming(`UNNAMED-${randomUUID()}`)).decision).toBe("allow");
  });
});

describe("verdict-mcp --end-task-on-exit on SIGTERM, and without the flag", () => {
  it("SIGTERM: the gateway ends the session's task before it exits", async () => {
    const task = `SIGTERM-${randomUUID()}`;
    const gateway = await connectGateway(["--end-task-on-exit", "--task", task]);
    // The configured task: named with every call, no _meta needed.
    const read = await gateway.client.callTool({ name: "read_text_file", arguments: { path: join(workspace, "notes.md") } });
    expect(read.content).toEqual([{ type: "text", text: "# notes\n" }]);
    const closed = new Promise<void>((resolve) => (gateway.client.onclose = resolve));
    process.kill(gateway.transport.pid!, "SIGTERM");
    await closed;
    expect(await taskEnds(task)).toHaveLength(1);
    expect((await callNaming(task)).reasons).toEqual(["verdict:task-ended"]);
    expect(logLines(gateway.stderr(), "task ended").map((l) => l.task)).toEqual([task]);
  });

  it("without the flag, the session's tasks stay open after the client closes", async () => {
    const task = `OPEN-${randomUUID()}`;
    const gateway = await connectGateway([]);
    await gateway.client.callTool({ name: "read_text_file", arguments: { path: join(workspace, "notes.md") }, _meta: meta(task) });
    await gateway.client.close();
    expect(await taskEnds(task)).toEqual([]);
    expect((await callNaming(task)).decision).toBe("allow");
    expect(logLines(gateway.stderr(), "task ended")).toEqual([]);
  });
});

describe("verdict-mcp --end-task-on-exit over Streamable HTTP (a session per client)", () => {
  /** Polls until the task has its task/end record (a DELETE is answered before the session's tasks are ended). */
  async function untilEnded(task: string): Promise<DecisionRecord[]> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ends = await taskEnds(task);
      if (ends.length || Date.now() > deadline) return ends;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it("a client that ends its session ends its own tasks only; closing the gateway ends those of the open sessions", async () => {
    const gateway = await startGateway({
      verdict: { baseUrl: verdict.url, apiKey: pepKey },
      agent: "code-assistant",
      server: "filesystem",
      upstream: { command: process.execPath, args: [FILESYSTEM_SERVER, workspace, outside] },
      listen: { port: 0 },
      logger: pino({ level: "silent" }),
      endTaskOnExit: true,
    });
    try {
      const sessions = [`HTTP-A-${randomUUID()}`, `HTTP-B-${randomUUID()}`].map((task) => ({
        task,
        client: new Client({ name: "e2e-http-agent", version: "1.0.0" }),
        transport: new StreamableHTTPClientTransport(new URL(gateway.url!)),
      }));
      for (const s of sessions) {
        await s.client.connect(s.transport);
        await s.client.callTool({ name: "read_text_file", arguments: { path: join(workspace, "notes.md") }, _meta: meta(s.task) });
      }
      const [a, b] = sessions as [(typeof sessions)[0], (typeof sessions)[0]];
      await a.transport.terminateSession();
      expect(await untilEnded(a.task)).toHaveLength(1);
      expect((await callNaming(a.task)).reasons).toEqual(["verdict:task-ended"]);
      // B's session is still open: its task too.
      expect(await taskEnds(b.task)).toEqual([]);
      expect((await b.client.callTool({ name: "read_text_file", arguments: { path: join(workspace, "notes.md") }, _meta: meta(b.task) })).isError ?? false).toBe(false);
      await gateway.close();
      expect(await taskEnds(b.task)).toHaveLength(1);
      await Promise.allSettled(sessions.map((s) => s.client.close()));
    } finally {
      await gateway.close();
    }
  });
});

describe("ending tasks is bounded and never blocks the exit", () => {
  it("Verdict unreachable: the gateway logs the task it could not end, and exits", async () => {
    const task = `UNREACHABLE-${randomUUID()}`;
    // Port 0 is never listened on: every request is refused at once.
    const gateway = await connectGateway(["--end-task-on-exit"], "http://127.0.0.1:0");
    const e = await denial(gateway.client.callTool({ name: "read_text_file", arguments: { path: join(workspace, "notes.md") }, _meta: meta(task) }));
    expect(e.data).toMatchObject({ decisionId: null, cause: { kind: "network" } });
    await gateway.client.close();
    const failed = logLines(gateway.stderr(), "cannot end task");
    expect(failed).toMatchObject([{ task, cause: { kind: "network" } }]);
  });

  it("a Verdict that never answers: endTasks gives up after its bound, naming the tasks left open", async () => {
    const sent: TransportRequest[] = [];
    const silent = new VerdictClient({ transport: { send: (r) => (sent.push(r), new Promise(() => undefined)) } });
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const started = Date.now();
    const ids = Array.from({ length: 20 }, (_, i) => `SILENT-${i}`);
    const outcome = await endTasks(silent, ids, logger, 300);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(outcome).toEqual({ ended: [], failed: [], unfinished: ids });
    // At most 8 requests in flight, each with the reason recorded in the task/end record.
    expect(sent).toHaveLength(8);
    expect(sent[0]).toMatchObject({ method: "POST", path: "/v1/tasks/SILENT-0/end", body: { reason: END_TASK_REASON } });
    expect(lines.filter((l) => l.msg === "tasks not ended in time; they stay open")).toMatchObject([{ tasks: ids, timeoutMs: 300 }]);
  });
});
