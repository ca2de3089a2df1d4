import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import { DecisionLog } from "../../src/decision-log/writer.js";
import { createApp } from "../../src/http/app.js";
import { ActivePolicySet } from "../../src/policy/active.js";
import { createTestApp, type TestApp } from "../helpers/app.js";
import { createTestDatabase } from "../helpers/db.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const call = (body: unknown, headers?: Record<string, string>) => t.request("/v1/mcp/tools/call", { body, headers });
const recorded = async (decisionId: string) => (await t.request(`/v1/decisions/${decisionId}`)).json();

/** Expects a 400 (or other error status) with the wire error shape; returns its message. */
async function expectError(res: Response, status: number, code?: string): Promise<string> {
  expect(res.status).toBe(status);
  const body = await res.json();
  expect(body.error.message).toEqual(expect.any(String));
  if (code) expect(body.error.code).toBe(code);
  return body.error.message as string;
}

describe("POST /v1/mcp/tools/call", () => {
  it("allows a runbook read and records it with every field", async () => {
    const res = await call({
      agent: "incident-bot",
      user: "alice",
      server: "filesystem",
      tool: "read_file",
      arguments: { path: "/srv/runbooks/db.md" },
      task: { id: "INC-1234", kind: "incident" },
    });
    expect(res.status).toBe(200);
    // Verdict's own id when the caller sends none: a UUIDv7.
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const answer = await res.json();
    expect(answer).toMatchObject({ decision: "allow", reasons: ["allow-file-reads"], errors: [], obligations: [] });
    expect(answer.policySetVersion).toMatch(/^sha256:[0-9a-f]{64}$/);

    const rec = await recorded(answer.decisionId);
    expect(rec).toMatchObject({
      id: answer.decisionId,
      kind: "tools/call",
      agent: "incident-bot",
      user: "alice",
      delegation: [],
      server: "filesystem",
      tool: "read_file",
      action: 'Mcp::Action::"filesystem/read_file"',
      arguments: { path: "/srv/runbooks/db.md" },
      task: { id: "INC-1234", kind: "incident" },
      decision: "allow",
      reasons: ["allow-file-reads"],
      errors: [],
      obligations: [],
      policySetVersion: answer.policySetVersion,
      requestId: res.headers.get("x-request-id"),
    });
    expect(rec.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(rec.argumentsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(rec.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(Number.isInteger(rec.evaluationMicros)).toBe(true);
    expect(rec.evaluationMicros).toBeGreaterThan(0); // a Cedar evaluation takes microseconds, not none
    expect(rec.request.principal).toEqual({ type: "Mcp::Agent", id: "incident-bot" });
    expect(rec.request.context.session.user).toEqual({ __entity: { type: "Mcp::User", id: "alice" } });
    expect(rec.request.entities.map((e: { uid: { id: string } }) => e.uid.id).sort()).toEqual(["alice", "filesystem", "incident-bot", "sre", "sre-agents"]);
  });

  it("denies a write outside the sandbox, naming the forbid, and records the deny", async () => {
    const res = await call({
      agent: "code-assistant",
      user: "bob",
      server: "filesystem",
      tool: "write_file",
      arguments: { path: "/etc/passwd", content: "x" },
      task: { id: "T-1" },
    });
    expect(res.status).toBe(200);
    const answer = await res.json();
    expect(answer).toMatchObject({ decision: "deny", reasons: ["forbid-writes-outside-sandbox"], message: "denied by forbid-writes-outside-sandbox" });
    expect(await recorded(answer.decisionId)).toMatchObject({ decision: "deny", reasons: ["forbid-writes-outside-sandbox"] });
  });

  it.each([
    ["agent", { agent: "mallory-bot" }, "verdict:unknown-agent", '"mallory-bot"'],
    ["user", { user: "mallory" }, "verdict:unknown-user", '"mallory"'],
    ["server", { server: "github", tool: "list_issues", arguments: {} }, "verdict:unknown-server", '"github"'],
    ["tool", { tool: "delete_file" }, "verdict:unknown-tool", '"delete_file"'],
  ])("denies an unknown %s with a reason that names it, and records it", async (_what, change, reason, named) => {
    const body = { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: "/srv/a" }, ...change };
    const res = await call(body);
    expect(res.status).toBe(200);
    const answer = await res.json();
    expect(answer.decision).toBe("deny");
    expect(answer.reasons).toEqual([reason]);
    expect(answer.message).toContain(named);
    expect(await recorded(answer.decisionId)).toMatchObject({ decision: "deny", reasons: [reason] });
  });

  it.each([
    ["a wrong type", { path: 42 }, "/path"],
    ["a missing required argument", { head: 3 }, "path"],
    ["an undeclared argument", { path: "/srv/a", mode: "raw" }, "mode"],
    ["a number with more decimals than Cedar keeps", { path: "/srv/a", head: 1.00001 }, "/head"],
    ["an argument named like an Object.prototype member", { path: "/srv/a", constructor: 1 }, "/constructor"],
    ["an argument named toString", { path: "/srv/a", toString: "x" }, "/toString"],
  ])("denies arguments with %s, saying what does not fit the inputSchema", async (_what, args, named) => {
    const res = await call({ agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: args });
    expect(res.status).toBe(200);
    const answer = await res.json();
    expect(answer).toMatchObject({ decision: "deny", reasons: ["verdict:arguments-invalid"] });
    expect(answer.message).toContain("inputSchema of filesystem/read_file");
    expect(answer.message).toContain(named);
  });

  it("types enum arguments as entities and numbers as decimals", async () => {
    const ok = await (await call({ agent: "code-assistant", server: "everything", tool: "get-structured-content", arguments: { location: "Chicago" } })).json();
    expect(ok).toMatchObject({ decision: "allow", reasons: ["allow-everything-demo-tools"] });
    const rec = await recorded(ok.decisionId);
    expect(rec.request.context.input).toEqual({ location: { __entity: { type: "Mcp::Tools::everything::get_structured_content::Input::location", id: "Chicago" } } });
    const bad = await (await call({ agent: "code-assistant", server: "everything", tool: "get-structured-content", arguments: { location: "Paris" } })).json();
    expect(bad).toMatchObject({ decision: "deny", reasons: ["verdict:arguments-invalid"] });
    const sum = await (await call({ agent: "code-assistant", server: "everything", tool: "get-sum", arguments: { a: 1.25, b: -2 } })).json();
    expect((await recorded(sum.decisionId)).request.context.input).toEqual({
      a: { __extn: { fn: "decimal", arg: "1.25" } },
      b: { __extn: { fn: "decimal", arg: "-2.0" } },
    });
  });
});

describe("bad input", () => {
  const valid = '{"agent":"code-assistant","server":"everything","tool":"get-sum","arguments":{"a":1,"b":2}}';

  it.each([
    ["in the arguments", valid.replace('"a":1', '"a":9007199254740993')],
    ["negative, in the arguments", valid.replace('"a":1', '"a":-9007199254740993')],
    ["nested in an array", valid.replace('"a":1', '"a":[1,[2,{"x":18446744073709551616}]]')],
    ["in a field Verdict ignores", valid.replace("{", '{"extra":{"n":9007199254740993},')],
    ["written as a float", valid.replace('"a":1', '"a":9007199254740993.0')],
    ["written with an exponent", valid.replace('"a":1', '"a":9.007199254740993e15')],
  ])("refuses an integer beyond ±2^53 %s with a 400 instead of rounding it", async (_where, body) => {
    const message = await expectError(await call(body), 400, "bad_request");
    expect(message).toMatch(/beyond ±2\^53/);
  });

  it("accepts the largest exact integer, 2^53 - 1", async () => {
    const res = await call(valid.replace('"a":1', '"a":9007199254740991'));
    expect(res.status).toBe(200);
  });

  it("refuses malformed JSON and duplicate keys", async () => {
    await expectError(await call('{"agent": "code-assistant", '), 400, "invalid_json");
    await expectError(await call("not json"), 400, "invalid_json");
    await expectError(await call(valid.replace("{", '{"agent":"incident-bot",')), 400, "invalid_json");
  });

  it("refuses strings Postgres could not store as given (NUL, lone surrogates)", async () => {
    expect(await expectError(await call(valid.replace('"a":1', '"a":1,"c":"x\\u0000y"')), 400)).toContain("NUL");
    expect(await expectError(await call(valid.replace('"agent":"code-assistant"', '"agent":"code\\ud800"')), 400)).toContain("surrogate");
  });

  it("refuses a body nested deeper than 64 levels with a 400, however deep", async () => {
    const nested = (depth: number) => valid.replace('"a":1', `"a":1,"x":${"[".repeat(depth)}${"]".repeat(depth)}`);
    const ok = await call(nested(60));
    expect(ok.status).toBe(200);
    expect((await ok.json()).reasons).toEqual(["verdict:arguments-invalid"]);
    for (const depth of [65, 3_000, 100_000]) {
      expect(await expectError(await call(nested(depth)), 400, "bad_request")).toBe("body is nested deeper than 64 levels");
    }
    // Brackets inside strings do not count.
    expect((await call(valid.replace('"a":1', `"a":1,"x":"${"[".repeat(100)}"`))).status).toBe(200);
  });

  it.each([
    ["a missing agent", { server: "filesystem", tool: "read_file" }, "agent"],
    ["a missing tool", { agent: "incident-bot", server: "filesystem" }, "tool"],
    ["a mistyped agent", { agent: 5, server: "filesystem", tool: "read_file" }, "agent"],
    ["mistyped arguments", { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: [1] }, "arguments"],
    ["a mistyped task id", { agent: "incident-bot", server: "filesystem", tool: "read_file", task: { id: 7 } }, "task.id"],
    ["an empty server", { agent: "incident-bot", server: "", tool: "read_file" }, "server"],
  ])("answers %s with a 400 naming the field", async (_what, body, field) => {
    const res = await call(body);
    const message = await expectError(res, 400, "bad_request");
    expect(message).toContain(`${field}:`);
  });

  it("answers a body over 1 MiB with a 413, with or without Content-Length", async () => {
    const big = JSON.stringify({ agent: "code-assistant", server: "everything", tool: "echo", arguments: { message: "x".repeat(1024 * 1024) } });
    await expectError(await call(big), 413, "payload_too_large");
    await expectError(await call(big, { "content-length": String(Buffer.byteLength(big)) }), 413, "payload_too_large");
    const justUnder = JSON.stringify({ agent: "code-assistant", server: "everything", tool: "echo", arguments: { message: "x".repeat(1024 * 1024 - 200) } });
    expect((await call(justUnder)).status).toBe(200);
  });

  it("answers an unknown route with a 404 in the error shape", async () => {
    await expectError(await t.request("/v1/nothing-here"), 404, "not_found");
  });
});

describe("X-Request-ID", () => {
  const body = { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/a" } };

  it("echoes the caller's id and records it with the decision", async () => {
    const res = await call(body, { "x-request-id": "gw-req-0001" });
    expect(res.headers.get("x-request-id")).toBe("gw-req-0001");
    expect((await recorded((await res.json()).decisionId)).requestId).toBe("gw-req-0001");
  });

  it("generates a distinct id when none is given, on answers and on errors alike", async () => {
    const a = await call(body);
    const b = await call(body);
    const err = await call("{");
    const missing = await t.request("/v1/decisions/00000000-0000-7000-8000-000000000000");
    const ids = [a, b, err, missing].map((r) => r.headers.get("x-request-id"));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids).size).toBe(4);
    expect(err.status).toBe(400);
    expect(missing.status).toBe(404);
    expect((await call("{", { "x-request-id": "gw-err-1" })).headers.get("x-request-id")).toBe("gw-err-1");
  });
});

describe("health", () => {
  it("GET /healthz says the process is up", async () => {
    const res = await t.request("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("GET /readyz reports the active policy set version and a reachable database", async () => {
    const res = await t.request("/readyz");
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ status: "ready", database: { status: "ok" } });
    expect(body.policySetVersion).toBe(t.policies.get().version);
    expect(body.policies).toBe(t.policies.get().policies.size);
  });

  it("without a policy set or a database, /readyz is 503 and decisions are 503s, never allows", async () => {
    const db = await createTestDatabase();
    const logger = pino({ level: "silent" });
    const log = new DecisionLog(db.database, { logger });
    // API keys and signing keys live in the test app's database, which stays up.
    const keys = { apiKeys: t.apiKeys, signingKeys: t.signingKeys, issuer: () => "http://verdict.test", publicUrl: () => "http://verdict.test" };
    const noPolicies = createApp({ policies: new ActivePolicySet(null), log, database: db.database, logger, ...keys });
    const req = {
      method: "POST",
      headers: { authorization: `Bearer ${t.keys.admin}` },
      body: JSON.stringify({ agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: "/a" } }),
    };
    const notReady = await noPolicies.request("/readyz", { headers: req.headers });
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ status: "not ready", policySetVersion: null });
    await expectError(await noPolicies.request("/v1/mcp/tools/call", req), 503, "unavailable");

    const noDatabase = createApp({ policies: t.policies, log, database: db.database, logger, ...keys });
    await db.dispose();
    const down = await noDatabase.request("/readyz", { headers: req.headers });
    expect(down.status).toBe(503);
    expect((await down.json()).database.status).toMatch(/^unreachable/);
    const message = await expectError(await noDatabase.request("/v1/mcp/tools/call", req), 503, "unavailable");
    expect(message).toContain("treat this as a deny");
  });
});
