import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPolicySet } from "../../src/policy/build.js";
import { createTestApp, ROOT, TEST_ISSUER, type TestApp } from "../helpers/app.js";
import { decisionRows, refuseDecisionInserts } from "../helpers/refuse-decisions.js";

const INTEROP_DIR = join(ROOT, "examples", "authzen-interop");
const RICK = "CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs";
const MORTY = "CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs";
const JERRY = "CiRmZDQ2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs";

const todo = (id: string, ownerID: string) => ({ type: "todo", id, properties: { ownerID } });
const user = (id: string) => ({ type: "user", id });

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ policySet: loadPolicySet(INTEROP_DIR, INTEROP_DIR) });
});
afterAll(async () => {
  await t.close();
});

const evaluation = (body: unknown, headers?: Record<string, string>) => t.request("/access/v1/evaluation", { body, headers });
const evaluations = (body: unknown) => t.request("/access/v1/evaluations", { body });
const record = async (id: string) => (await t.request(`/v1/decisions/${id}`)).json();

describe("POST /access/v1/evaluation", () => {
  it("answers a permit as decision true and records it, echoing X-Request-ID", async () => {
    const res = await evaluation(
      { subject: user(MORTY), action: { name: "can_update_todo" }, resource: todo("t-1", "morty@the-citadel.com"), options: { verdict_context: true } },
      { "x-request-id": "req-authzen-1" },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("req-authzen-1");
    const body = await res.json();
    expect(body).toMatchObject({ decision: true, context: { reasons: ["todo-update-own-as-editor"] } });
    expect(body.context.policy_set_version).toMatch(/^sha256:/);

    const rec = await record(body.context.decision_id);
    expect(rec).toMatchObject({
      kind: "authorize",
      decision: "allow",
      action: 'Todo::Action::"can_update_todo"',
      reasons: ["todo-update-own-as-editor"],
      requestId: "req-authzen-1",
    });
    expect(rec.request.principal).toEqual({ type: "Todo::User", id: MORTY });
    expect(rec.request.entities).toContainEqual({ uid: { type: "Todo::Todo", id: "t-1" }, attrs: { ownerID: "morty@the-citadel.com" }, parents: [] });
  });

  it("answers a deny as HTTP 200 with exactly {decision: false}", async () => {
    const res = await evaluation({ subject: user(MORTY), action: { name: "can_delete_todo" }, resource: todo("t-2", "rick@the-citadel.com") });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ decision: false });
  });

  it("ignores unknown fields and context keys the action does not declare", async () => {
    const res = await evaluation({
      subject: { type: "identity", id: JERRY, email: "x" },
      action: { name: "GET", method: "GET" },
      resource: { type: "route", id: "/todos" },
      context: { headers: { accept: "application/json" } },
      vendor_extension: { anything: true },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ decision: true });
  });

  it("keeps the attributes Verdict holds: a PEP cannot claim another user's email", async () => {
    const res = await evaluation({
      subject: { type: "user", id: MORTY, properties: { email: "rick@the-citadel.com" } },
      action: { name: "can_update_todo" },
      resource: todo("t-3", "rick@the-citadel.com"),
    });
    expect(await res.json()).toEqual({ decision: false });
  });

  it("denies, with a reason, a type that names no entity type of the schema", async () => {
    const res = await evaluation({ subject: { type: "robot", id: "r2" }, action: { name: "can_read_todos" }, resource: todo("t", "x"), options: { verdict_context: true } });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ decision: false, context: { reasons: ["verdict:unknown-type"] } });
    expect(body.context.message).toMatch(/"robot"/);
  });

  it("denies an action that does not apply to the subject and resource types", async () => {
    const res = await evaluation({ subject: user(RICK), action: { name: "DELETE" }, resource: todo("t", "x"), options: { verdict_context: true } });
    expect(await res.json()).toMatchObject({ decision: false, context: { reasons: ["verdict:unknown-action"] } });
  });

  it("rejects a request without a subject with a 400 that names it", async () => {
    const res = await evaluation({ action: { name: "can_read_todos" }, resource: todo("t", "x") });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(/subject/);
  });
});

describe("POST /access/v1/evaluations", () => {
  const items = [
    { resource: todo("a", "morty@the-citadel.com") },
    { resource: todo("b", "rick@the-citadel.com") },
    { action: { name: "can_read_todos" }, resource: todo("c", "rick@the-citadel.com") },
  ];

  it("applies top-level defaults, lets items override them, and answers in order", async () => {
    const res = await evaluations({ subject: user(MORTY), action: { name: "can_update_todo" }, evaluations: items });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ evaluations: [{ decision: true }, { decision: false }, { decision: true }] });
  });

  it("stops after the first deny with deny_on_first_deny, and records only what it evaluated", async () => {
    const res = await evaluations({
      subject: user(MORTY),
      action: { name: "can_update_todo" },
      evaluations: items,
      options: { evaluations_semantic: "deny_on_first_deny", verdict_context: true },
    });
    const body = await res.json();
    expect(body.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([true, false]);
    const ids = body.evaluations.map((e: { context: { decision_id: string } }) => e.context.decision_id);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect((await record(id)).id).toBe(id);
  });

  it("stops after the first permit with permit_on_first_permit", async () => {
    const res = await evaluations({
      subject: user(JERRY),
      action: { name: "can_update_todo" },
      evaluations: items,
      options: { evaluations_semantic: "permit_on_first_permit" },
    });
    expect(await res.json()).toEqual({ evaluations: [{ decision: false }, { decision: false }, { decision: true }] });
    const first = await evaluations({ subject: user(MORTY), action: { name: "can_update_todo" }, evaluations: items, options: { evaluations_semantic: "permit_on_first_permit" } });
    expect(await first.json()).toEqual({ evaluations: [{ decision: true }] });
  });

  it("answers a request without evaluations as a single evaluation", async () => {
    const res = await evaluations({ subject: user(JERRY), action: { name: "can_create_todo" }, resource: todo("n", "x") });
    expect(await res.json()).toEqual({ decision: false });
  });

  it("rejects an unknown semantic and an item left without a subject", async () => {
    const bad = await evaluations({ subject: user(MORTY), action: { name: "can_update_todo" }, evaluations: items, options: { evaluations_semantic: "majority" } });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toMatch(/evaluations_semantic/);
    const missing = await evaluations({ action: { name: "can_read_todos" }, evaluations: [{ subject: user(MORTY), resource: todo("a", "x") }, { resource: todo("b", "x") }] });
    expect(missing.status).toBe(400);
    expect((await missing.json()).error.message).toMatch(/evaluations\[1\]: subject missing/);
  });
});

describe("GET /.well-known/authzen-configuration", () => {
  it("names the PDP and both evaluation endpoints", async () => {
    const res = await t.request("/.well-known/authzen-configuration");
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toEqual({
      policy_decision_point: TEST_ISSUER,
      access_evaluation_endpoint: `${TEST_ISSUER}/access/v1/evaluation`,
      access_evaluations_endpoint: `${TEST_ISSUER}/access/v1/evaluations`,
    });
  });
});

describe("AuthZEN MCP binding (action tools/call, resource type tool)", () => {
  let mcp: TestApp;
  beforeAll(async () => {
    mcp = await createTestApp();
  });
  afterAll(async () => {
    await mcp.close();
  });
  const call = (body: unknown) => mcp.request("/access/v1/evaluation", { body });

  it("decides a tool call as POST /v1/mcp/tools/call does, and records it as one", async () => {
    const res = await call({
      subject: { type: "agent", id: "incident-bot" },
      action: { name: "tools/call" },
      resource: { type: "tool", id: "read_file", properties: { server: "filesystem", arguments: { path: "/srv/runbooks/db.md" } } },
      context: { user: "alice", task: { id: "INC-1234", kind: "incident" } },
      options: { verdict_context: true },
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ decision: true, context: { reasons: ["allow-file-reads"] } });
    const rec = await (await mcp.request(`/v1/decisions/${body.context.decision_id}`)).json();
    expect(rec).toMatchObject({
      kind: "tools/call",
      agent: "incident-bot",
      user: "alice",
      server: "filesystem",
      tool: "read_file",
      arguments: { path: "/srv/runbooks/db.md" },
      task: { id: "INC-1234", kind: "incident" },
    });
  });

  it("denies a tool call naming an ended task, as POST /v1/mcp/tools/call does; other tasks are decided by the policies", async () => {
    const body = (task: string) => ({
      subject: { type: "agent", id: "incident-bot" },
      action: { name: "tools/call" },
      resource: { type: "tool", id: "read_file", properties: { server: "filesystem", arguments: { path: "/srv/runbooks/db.md" } } },
      context: { user: "alice", task: { id: task, kind: "incident" } },
      options: { verdict_context: true },
    });
    expect((await (await call(body("AZ-END"))).json()).decision).toBe(true);
    expect((await mcp.request("/v1/tasks/AZ-END/end", { method: "POST" })).status).toBe(200);
    const ended = await (await call(body("AZ-END"))).json();
    expect(ended).toMatchObject({ decision: false, context: { reasons: ["verdict:task-ended"] } });
    const batch = await (await mcp.request("/access/v1/evaluations", { body: { evaluations: [body("AZ-END"), body("AZ-OPEN")], options: { verdict_context: true } } })).json();
    expect(batch.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([false, true]);
  });

  it("takes a user subject with the agent in context, and `<server>/<tool>` as the resource id", async () => {
    const res = await call({
      subject: { type: "user", id: "bob" },
      action: { name: "tools/call" },
      resource: { type: "tool", id: "filesystem/write_file", properties: { arguments: { path: "/etc/passwd", content: "x" } } },
      context: { agent: { id: "code-assistant" }, task: { id: "T-1" } },
      options: { verdict_context: true },
    });
    expect(await res.json()).toMatchObject({ decision: false, context: { reasons: ["forbid-writes-outside-sandbox"] } });
  });

  it("denies a tool missing from the pinned catalog", async () => {
    const res = await call({
      subject: { type: "agent", id: "incident-bot" },
      action: { name: "tools/call" },
      resource: { type: "tool", id: "format_disk", properties: { server: "filesystem" } },
      options: { verdict_context: true },
    });
    expect(await res.json()).toMatchObject({ decision: false, context: { reasons: ["verdict:unknown-tool"] } });
  });

  it("rejects a tool call that names no server or no agent", async () => {
    const noServer = await call({ subject: { type: "agent", id: "incident-bot" }, action: { name: "tools/call" }, resource: { type: "tool", id: "read_file" } });
    expect(noServer.status).toBe(400);
    expect((await noServer.json()).error.message).toMatch(/server is required/);
    const noAgent = await call({ subject: { type: "user", id: "alice" }, action: { name: "tools/call" }, resource: { type: "tool", id: "filesystem/read_file" } });
    expect(noAgent.status).toBe(400);
    expect((await noAgent.json()).error.message).toMatch(/agent is required/);
  });
});

describe("AuthZEN when the decision cannot be recorded", () => {
  // defect 11: this test closed the whole database, so the API-key lookup failed first and the
  // 503 came from the middleware; AuthZEN's record-before-answer path was never reached. Now only
  // the INSERT into decisions fails (a trigger), the key is read as usual, and AuthZEN must refuse.
  it.each([
    { path: "/access/v1/evaluation", body: { subject: user(MORTY), action: { name: "can_read_todos" }, resource: todo("t", "x") }, records: 1, allows: (b: { decision?: unknown }) => b.decision === true },
    {
      path: "/access/v1/evaluations",
      body: { subject: user(MORTY), action: { name: "can_read_todos" }, evaluations: [{ resource: todo("t1", "x") }, { resource: todo("t2", "x") }] },
      records: 2,
      allows: (b: { evaluations?: Array<{ decision?: unknown }> }) => b.evaluations?.length === 2 && b.evaluations.every((e) => e.decision === true),
    },
  ])("$path answers 503, never a decision, when only the decision's INSERT fails", async ({ path, body, records, allows }) => {
    const before = await t.request(path, { body, key: t.keys.pep });
    expect(before.status).toBe(200);
    expect(allows(await before.json())).toBe(true);

    const rows = await decisionRows(t.db.database.db);
    const failed = t.log.stats.failed;
    const restore = await refuseDecisionInserts(t.db.database.db);
    let res: Response;
    let answer: Record<string, unknown>;
    try {
      res = await t.request(path, { body, key: t.keys.pep });
      answer = await res.json();
    } finally {
      await restore();
    }
    expect(res.status).toBe(503);
    expect(Object.keys(answer)).toEqual(["error"]);
    expect(answer.error).toMatchObject({ code: "unavailable" });
    expect(t.log.stats.failed - failed).toBe(records);
    expect(await decisionRows(t.db.database.db)).toBe(rows);

    const after = await t.request(path, { body, key: t.keys.pep });
    expect(after.status).toBe(200);
    expect(allows(await after.json())).toBe(true);
  }, 60_000);
});
