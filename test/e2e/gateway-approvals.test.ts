/**
 * Approvals through the gateway, real parts only: the official MCP SDK client → `verdict-mcp`
 * (spawned, over stdio) → Verdict (real HTTP, the test database) → the real `server-filesystem`.
 * The agent may write in its workspace, but an approvable forbid (`@approval("release-managers")`)
 * covers writes under `prod/`. Without `--wait-for-approval` such a write is answered -32001
 * naming its approval request and where to approve it. With `--wait-for-approval 60` the write
 * waits (progress notifications to the client) while the test finds the pending request and a
 * release manager approves it through the API; the write then happens, once: the identical
 * write again waits on a new request, which is denied, and the file is not written again. A
 * cancelled wait is dropped (approving it afterwards writes nothing), a short wait times out,
 * and a wait during which Verdict goes away ends denied (fail closed).
 */
import { mkdirSync, mkdtempSync, copyFileSync, existsSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { Progress } from "@modelcontextprotocol/sdk/types.js";
import type { Approval, DecisionRecord } from "@verdict/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, TEST_ADMIN_KEY } from "../helpers/app.js";
import { denial, FILESYSTEM_SERVER, GATEWAY_BIN } from "../helpers/mcp.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

/** The approvable forbid: a write under a `prod/` directory needs a release manager's approval. */
const PROD_APPROVAL = `@id("prod-writes-need-a-release-manager")
@approval("release-managers")
forbid (principal, action == Mcp::Action::"filesystem/write_file", resource)
when { context.input.path like "*/prod/*" };
`;

/** Data of a -32001 answer naming an approval. */
interface ApprovalDenial {
  decisionId: string | null;
  reasons: string[];
  message: string;
  approval?: { id: string; groups: string[]; status: string; expiresAt: string };
  approveUrl?: string;
  approveApiUrl?: string;
  waited?: { ms: number; ended: string };
}

let verdict: TestVerdict;
/** The project: policies and schema, and the agent's workspace (with its `prod/`). */
let project: string;
let workspace: string;
let pepKey: string;
/** An approver key made for erin, a release manager. */
let erinKey: string;
const clients: Client[] = [];

/** Writes the project: the example entities plus the group and erin, the filesystem catalog, a permit for writes in the workspace and the approvable forbid. */
function writeProject(): void {
  const policyDir = join(project, "policies");
  mkdirSync(policyDir);
  mkdirSync(join(project, "schema", "servers"), { recursive: true });
  copyFileSync(join(EXAMPLE_SCHEMA_DIR, "mcp.cedarschema"), join(project, "schema", "mcp.cedarschema"));
  copyFileSync(join(EXAMPLE_SCHEMA_DIR, "servers", "filesystem.json"), join(project, "schema", "servers", "filesystem.json"));
  const entities = JSON.parse(readFileSync(join(EXAMPLE_POLICY_DIR, "entities.json"), "utf8")) as unknown[];
  entities.push(
    { uid: { type: "Mcp::Group", id: "release-managers" }, attrs: {}, parents: [] },
    { uid: { type: "Mcp::User", id: "erin" }, attrs: {}, parents: [{ type: "Mcp::Group", id: "release-managers" }] },
  );
  writeFileSync(join(policyDir, "entities.json"), JSON.stringify(entities, null, 2));
  writeFileSync(
    join(policyDir, "permits.cedar"),
    `@id("allow-workspace-writes")
permit (
  principal in Mcp::AgentGroup::"coding-agents",
  action == Mcp::Action::"filesystem/write_file",
  resource == Mcp::Server::"filesystem"
)
when { context.input.path like "${workspace}/*" };
`,
  );
  writeFileSync(join(policyDir, "approvals.cedar"), PROD_APPROVAL);
}

async function api<T>(path: string, key: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${verdict.url}${path}`, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${key}`, ...(init.body !== undefined ? { "content-type": "application/json" } : {}) },
    body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function createKey(body: Record<string, string>): Promise<string> {
  const res = await api<{ key: string }>("/v1/keys", TEST_ADMIN_KEY, { method: "POST", body });
  expect(res.status).toBe(201);
  return res.body.key;
}

/** Spawns `verdict-mcp` (with `flags`, acting for bob) in front of the filesystem server and connects a client; its stderr is collected. */
async function connectGateway(flags: string[]): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [
      GATEWAY_BIN,
      ...["--server", "filesystem", "--agent", "code-assistant", "--user", "bob", "--verdict-url", verdict.url, "--log-level", "info"],
      ...flags,
      "--",
      process.execPath,
      FILESYSTEM_SERVER,
      workspace,
    ],
    env: { PATH: process.env.PATH ?? "", VERDICT_API_KEY: pepKey },
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: "e2e-approvals-agent", version: "1.0.0" });
  await client.connect(transport);
  clients.push(client);
  return { client, stderr: () => stderr };
}

/** Polls `check` every 100 ms until it returns a value, for at most `ms`. */
async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The pending approval request of a write to `path` (`GET /v1/approvals?status=pending`, admin key), other than `not`. */
function pendingFor(path: string, not?: string): Promise<Approval> {
  return until(`a pending approval of a write to ${path}`, async () => {
    const page = await api<{ approvals: Approval[] }>("/v1/approvals?status=pending&agent=code-assistant", TEST_ADMIN_KEY);
    expect(page.status).toBe(200);
    return page.body.approvals.find((a) => (a.call.arguments as { path?: string }).path === path && a.id !== not);
  });
}

/** The gateway's log lines (pino JSON on stderr) with this message. */
function logLines(stderr: string, msg: string): Array<Record<string, unknown>> {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

/** A write of `content` to `path`, collecting the progress notifications of its wait. */
function write(client: Client, path: string, content: string, progress: Progress[], signal?: AbortSignal) {
  return client.callTool({ name: "write_file", arguments: { path, content } }, undefined, {
    onprogress: (p) => progress.push(p),
    resetTimeoutOnProgress: true,
    timeout: 120_000,
    ...(signal ? { signal } : {}),
  });
}

beforeAll(async () => {
  // Under /tmp (not the OS's temp dir, which may be a symlink): the filesystem server resolves
  // the real path of each allowed directory, and the policies match the path the agent sends.
  project = mkdtempSync("/tmp/verdict-approvals-project-");
  workspace = join(project, "workspace");
  mkdirSync(join(workspace, "prod"), { recursive: true });
  writeProject();
  verdict = await startTestVerdict({ policyDir: join(project, "policies"), schemaDir: join(project, "schema") });
  pepKey = await createKey({ name: "gateway-approvals-pep", role: "pep" });
  erinKey = await createKey({ name: "gateway-approvals-erin", role: "approver", user: "erin" });
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await verdict?.dispose();
  rmSync(project, { recursive: true, force: true });
}, 60_000);

describe("verdict-mcp without --wait-for-approval", () => {
  let gateway: Awaited<ReturnType<typeof connectGateway>>;
  beforeAll(async () => {
    gateway = await connectGateway([]);
  }, 60_000);

  it("a write outside prod/ needs no approval and is made", async () => {
    const path = join(workspace, "notes.txt");
    const result = await gateway.client.callTool({ name: "write_file", arguments: { path, content: "draft" } });
    expect(result.isError ?? false).toBe(false);
    expect(readFileSync(path, "utf8")).toBe("draft");
  });

  it("a write under prod/ is answered -32001 at once, naming its pending approval and where to approve it; nothing is written", async () => {
    const path = join(workspace, "prod", "no-wait.txt");
    const e = await denial(gateway.client.callTool({ name: "write_file", arguments: { path, content: "v1" } }));
    const data = e.data as ApprovalDenial;
    expect(data.reasons).toEqual(["prod-writes-need-a-release-manager"]);
    expect(data.approval).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), status: "pending", groups: ["release-managers"] });
    const id = data.approval!.id;
    expect(Number.isNaN(Date.parse(data.approval!.expiresAt))).toBe(false);
    expect(data.approveUrl).toBe(`${verdict.url}/ui/#approval=${id}`);
    expect(data.approveApiUrl).toBe(`${verdict.url}/v1/approvals/${id}/approve`);
    expect(data.waited).toBeUndefined();
    expect(e.message).toContain(id);
    expect(e.message).toContain(data.approveUrl);
    expect(e.message).toContain("release-managers");
    expect(existsSync(path)).toBe(false);
    // The request Verdict keeps binds this exact call.
    const shown = await api<Approval>(`/v1/approvals/${id}`, pepKey);
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ status: "pending", call: { agent: "code-assistant", user: "bob", server: "filesystem", tool: "write_file", arguments: { path, content: "v1" } } });
  });
});

describe("verdict-mcp --wait-for-approval 60", () => {
  let gateway: Awaited<ReturnType<typeof connectGateway>>;
  const path = () => join(workspace, "prod", "release.txt");
  let firstId: string;

  beforeAll(async () => {
    gateway = await connectGateway(["--wait-for-approval", "60"]);
  }, 60_000);

  it("the write waits, with progress notifications, until a release manager approves it; then it is made", async () => {
    const progress: Progress[] = [];
    const started = Date.now();
    const result = write(gateway.client, path(), "release 1.0", progress);
    const pending = await pendingFor(path());
    firstId = pending.id;
    expect(pending).toMatchObject({ groups: ["release-managers"], call: { user: "bob", tool: "write_file" } });
    // The call waits: it is told so, and nothing reached the filesystem server yet.
    await until("two progress notifications", () => (progress.length >= 2 ? true : undefined));
    expect(existsSync(path())).toBe(false);
    expect(progress[0]).toMatchObject({ progress: expect.any(Number), total: 60 });
    expect(progress[0]!.message).toContain(`waiting for approval ${pending.id}`);
    expect(progress[0]!.message).toContain("release-managers");
    expect(progress[1]!.progress).toBeGreaterThan(progress[0]!.progress);

    const approved = await api<Approval>(`/v1/approvals/${pending.id}/approve`, erinKey, { method: "POST", body: { comment: "release window" } });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: "approved", decidedBy: "erin" });

    const answer = await result;
    expect(answer.isError ?? false).toBe(false);
    expect(answer.content).toEqual([{ type: "text", text: `Successfully wrote to ${path()}` }]);
    expect(readFileSync(path(), "utf8")).toBe("release 1.0");
    expect(Date.now() - started).toBeLessThan(60_000);

    // The approval was used by the call, and the allowed decision names it.
    const used = await api<Approval>(`/v1/approvals/${pending.id}`, pepKey);
    expect(used.body).toMatchObject({ status: "used", usedBy: expect.any(String) });
    const record = await api<DecisionRecord>(`/v1/decisions/${used.body.usedBy}`, TEST_ADMIN_KEY);
    expect(record.body).toMatchObject({ decision: "allow", tool: "write_file", reasons: ["allow-workspace-writes"] });
    expect(record.body.obligations[0]).toMatchObject({ type: "approval", id: pending.id, status: "used", approvedBy: "erin" });
    // The gateway's stderr may trail its answer on stdout.
    const states = await until("the approved log line", () => {
      const lines = logLines(gateway.stderr(), "tools/call approval").map((l) => [l.approval, l.state]);
      return lines.length >= 2 ? lines : undefined;
    });
    expect(states).toEqual([
      [pending.id, "waiting"],
      [pending.id, "approved"],
    ]);
  });

  it("the identical write again waits on a new request; denied, the file is not written again", async () => {
    // An old mtime: a second write, even of the same content, would change it.
    const old = new Date("2020-01-01T00:00:00Z");
    utimesSync(path(), old, old);
    const progress: Progress[] = [];
    const result = write(gateway.client, path(), "release 1.0", progress);
    const next = await pendingFor(path(), firstId);
    expect(next.id).not.toBe(firstId);
    await until("a progress notification", () => (progress.length ? true : undefined));
    expect(progress[0]!.message).toContain(next.id);

    const refused = await api<Approval>(`/v1/approvals/${next.id}/deny`, erinKey, { method: "POST", body: { comment: "not twice" } });
    expect(refused.status).toBe(200);
    const e = await denial(result);
    const data = e.data as ApprovalDenial;
    expect(data.approval).toMatchObject({ id: next.id, status: "denied" });
    expect(data.waited).toMatchObject({ ended: "denied" });
    expect(data.approveUrl).toBeUndefined();
    expect(e.message).toContain(`approval ${next.id} was denied by erin`);
    expect(statSync(path()).mtimeMs).toBe(old.getTime());
    expect(readFileSync(path(), "utf8")).toBe("release 1.0");
    await until("the denied log line", () => logLines(gateway.stderr(), "tools/call approval").find((l) => l.approval === next.id && l.state === "denied"));
  });

  it("a cancelled wait is dropped: approving the request afterwards writes nothing", async () => {
    const cancelled = join(workspace, "prod", "cancelled.txt");
    const abort = new AbortController();
    const progress: Progress[] = [];
    const result = write(gateway.client, cancelled, "never", progress, abort.signal);
    const pending = await pendingFor(cancelled);
    await until("a progress notification", () => (progress.length ? true : undefined));
    abort.abort("the user changed their mind");
    await expect(result).rejects.toThrow();
    await until("the gateway to end the wait", () => logLines(gateway.stderr(), "tools/call approval").find((l) => l.approval === pending.id && l.state === "cancelled"));
    expect((await api<Approval>(`/v1/approvals/${pending.id}/approve`, erinKey, { method: "POST" })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2_500));
    expect(existsSync(cancelled)).toBe(false);
    // Nobody used it: the gateway no longer asks about that call.
    expect((await api<Approval>(`/v1/approvals/${pending.id}`, pepKey)).body.status).toBe("approved");
  });
});

describe("verdict-mcp --wait-for-approval 2", () => {
  it("nobody approves in time: -32001 naming the approval, still pending, and where to approve it; nothing is written", async () => {
    const gateway = await connectGateway(["--wait-for-approval", "2"]);
    const path = join(workspace, "prod", "late.txt");
    const progress: Progress[] = [];
    const started = Date.now();
    const e = await denial(write(gateway.client, path, "late", progress));
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    const data = e.data as ApprovalDenial;
    expect(data.waited).toMatchObject({ ended: "timeout", ms: expect.any(Number) });
    expect(data.waited!.ms).toBeGreaterThanOrEqual(2_000);
    expect(data.approval).toMatchObject({ status: "pending", groups: ["release-managers"] });
    expect(data.approveUrl).toBe(`${verdict.url}/ui/#approval=${data.approval!.id}`);
    expect(e.message).toContain("did not come within 2 s");
    expect(e.message).toContain(data.approveUrl);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(existsSync(path)).toBe(false);
    expect((await api<Approval>(`/v1/approvals/${data.approval!.id}`, pepKey)).body.status).toBe("pending");
  }, 60_000);
});

// Last: it stops Verdict.
describe("verdict-mcp --wait-for-approval while Verdict goes away", () => {
  it("the wait ends at the first read that fails: -32001 naming the approval and the cause; nothing is written", async () => {
    const gateway = await connectGateway(["--wait-for-approval", "60"]);
    const path = join(workspace, "prod", "outage.txt");
    const progress: Progress[] = [];
    const result = write(gateway.client, path, "outage", progress);
    const pending = await pendingFor(path);
    await until("a progress notification", () => (progress.length ? true : undefined));
    await verdict.stop();
    const e = await denial(result);
    const data = e.data as ApprovalDenial & { cause?: { kind: string } };
    expect(data.waited).toMatchObject({ ended: "unreachable" });
    expect(data.approval).toMatchObject({ id: pending.id, status: "pending" });
    expect(data.cause).toMatchObject({ kind: "network" });
    expect(e.message).toContain(`Verdict could not be asked while waiting for approval ${pending.id}`);
    expect(existsSync(path)).toBe(false);
    await until("the unreachable log line", () => logLines(gateway.stderr(), "tools/call approval").find((l) => l.approval === pending.id && l.state === "unreachable"));
  });
});
