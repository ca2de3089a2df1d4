/**
 * Defect 5 of issue 11: `/v1/authorize`, the batch and AuthZEN let a caller invent entities.
 * Over real HTTP with a `pep` key, against a Verdict serving the example policy set plus one
 * attribute-based permit (so that AuthZEN `properties` on an invented subject could matter),
 * and a second Verdict serving the AuthZEN interop set (principals of another namespace).
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, ROOT, TEST_ADMIN_KEY } from "../helpers/app.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

const INTEROP_DIR = join(ROOT, "examples", "authzen-interop");
const PRODUCTION_ECHO = `@id("allow-echo-for-production-agents")
permit (principal is Mcp::Agent, action == Mcp::Action::"everything/echo", resource == Mcp::Server::"everything")
when { principal has environment && principal.environment == "production" };
`;

let policyDir: string;
let verdict: TestVerdict;
let interop: TestVerdict;
let pepKey: string;
let interopPepKey: string;

beforeAll(async () => {
  policyDir = mkdtempSync(join(tmpdir(), "verdict-entities-"));
  for (const f of readdirSync(EXAMPLE_POLICY_DIR).filter((n) => n.endsWith(".cedar") || n === "entities.json")) copyFileSync(join(EXAMPLE_POLICY_DIR, f), join(policyDir, f));
  writeFileSync(join(policyDir, "production-echo.cedar"), PRODUCTION_ECHO);
  [verdict, interop] = await Promise.all([startTestVerdict({ policyDir, schemaDir: EXAMPLE_SCHEMA_DIR }), startTestVerdict({ policyDir: INTEROP_DIR, schemaDir: INTEROP_DIR })]);
  pepKey = (await verdict.server.apiKeys.create({ name: "entities-pep", role: "pep" })).key;
  interopPepKey = (await interop.server.apiKeys.create({ name: "interop-pep", role: "pep" })).key;
}, 120_000);
afterAll(async () => {
  await Promise.all([verdict?.dispose(), interop?.dispose()]);
  rmSync(policyDir, { recursive: true, force: true });
});

const post = async (path: string, body: unknown, on: TestVerdict = verdict, key = on === verdict ? pepKey : interopPepKey) => {
  const res = await fetch(on.url + path, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};
const record = async (id: string) => (await fetch(`${verdict.url}/v1/decisions/${id}`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } })).json();

const session = { requestTime: 1_772_445_600, hourUtc: 10, weekdayUtc: 1 };
const agent = (id: string) => ({ type: "Mcp::Agent", id });
const user = (id: string) => ({ __entity: { type: "Mcp::User", id } });
const echo = (principal: { type: string; id: string }, extra: Record<string, unknown> = {}) => ({
  principal,
  action: { type: "Mcp::Action", id: "everything/echo" },
  resource: { type: "Mcp::Server", id: "everything" },
  context: { input: { message: "hi" }, session },
  ...extra,
});
const readFile = (sessionUser: unknown) => ({
  principal: agent("incident-bot"),
  action: { type: "Mcp::Action", id: "filesystem/read_file" },
  resource: { type: "Mcp::Server", id: "filesystem" },
  context: { input: { path: "/srv/runbooks/db.md" }, session: { ...session, user: sessionUser } },
});
/** An invented agent, made a member of a group Verdict holds (the one `allow-everything-demo-tools` permits). */
const ghost = { uid: agent("ghost-bot"), attrs: { environment: "production" }, parents: [{ type: "Mcp::AgentGroup", id: "coding-agents" }] };
/** The same request in AuthZEN's generic (Cedar) form. */
const authzenEcho = (subject: Record<string, unknown>, context: Record<string, unknown> = { input: { message: "hi" }, session }) => ({
  subject,
  action: { name: "everything/echo" },
  resource: { type: "server", id: "everything" },
  context,
  options: { verdict_context: true },
});

describe("defect 5: /v1/authorize, the batch and AuthZEN let a caller invent entities", () => {
  it("the control: a held agent is allowed on every generic endpoint", async () => {
    expect((await post("/v1/authorize", echo(agent("code-assistant")))).body).toMatchObject({ decision: "allow" });
    expect((await post("/access/v1/evaluation", authzenEcho({ type: "agent", id: "code-assistant" }))).body).toMatchObject({ decision: true });
  });

  it("denies an invented agent with an admin group as parent on /v1/authorize, verdict:unknown-agent, and records it", async () => {
    const { status, body } = await post("/v1/authorize", echo(agent("ghost-bot"), { entities: [ghost] }));
    expect(status).toBe(200);
    expect(body).toMatchObject({ decision: "deny", reasons: ["verdict:unknown-agent"] });
    expect(body.message).toContain('"ghost-bot"');
    const rec = await record(body.decisionId);
    expect(rec).toMatchObject({ kind: "authorize", agent: "ghost-bot", decision: "deny", reasons: ["verdict:unknown-agent"] });
  });

  it("denies it in a batch, each request on its own (the held agent beside it is still allowed)", async () => {
    const { status, body } = await post("/v1/authorize/batch", { requests: [echo(agent("code-assistant")), echo(agent("ghost-bot"), { entities: [ghost] })] });
    expect(status).toBe(200);
    expect(body.results.map((r: { decision: string }) => r.decision)).toEqual(["allow", "deny"]);
    expect(body.results[1].reasons).toEqual(["verdict:unknown-agent"]);
  });

  it("denies an AuthZEN subject Verdict does not hold, whatever properties it claims, on evaluation and evaluations", async () => {
    const subject = { type: "agent", id: "ghost-bot", properties: { environment: "production" } };
    const one = await post("/access/v1/evaluation", authzenEcho(subject));
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ decision: false, context: { reasons: ["verdict:unknown-agent"] } });
    const many = await post("/access/v1/evaluations", {
      action: { name: "everything/echo" },
      resource: { type: "server", id: "everything" },
      context: { input: { message: "hi" }, session },
      evaluations: [{ subject: { type: "agent", id: "code-assistant" } }, { subject }],
      options: { verdict_context: true },
    });
    expect(many.status).toBe(200);
    expect(many.body.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([true, false]);
    expect(many.body.evaluations[1].context.reasons).toEqual(["verdict:unknown-agent"]);
    // The MCP binding (tools/call) denied it before; it still does.
    const mcp = await post("/access/v1/evaluation", {
      subject: { type: "agent", id: "ghost-bot" },
      action: { name: "tools/call" },
      resource: { type: "tool", id: "everything/echo", properties: { arguments: { message: "hi" } } },
      options: { verdict_context: true },
    });
    expect(mcp.body).toMatchObject({ decision: false, context: { reasons: ["verdict:unknown-agent"] } });
  });

  it("denies a context.session.user Verdict does not hold, verdict:unknown-user, on every generic endpoint", async () => {
    expect((await post("/v1/authorize", readFile(user("alice")))).body).toMatchObject({ decision: "allow" });
    expect((await post("/v1/authorize", readFile(user("mallory")))).body).toMatchObject({ decision: "deny", reasons: ["verdict:unknown-user"] });
    // Cedar also reads an entity written without `__entity` ({"type", "id"}): it is the same user.
    expect((await post("/v1/authorize", readFile({ type: "Mcp::User", id: "mallory" }))).body).toMatchObject({ decision: "deny", reasons: ["verdict:unknown-user"] });
    const batch = await post("/v1/authorize/batch", { requests: [readFile(user("alice")), readFile(user("mallory"))] });
    expect(batch.body.results.map((r: { reasons: string[] }) => r.reasons)).toEqual([["allow-file-reads"], ["verdict:unknown-user"]]);
    const authzen = {
      subject: { type: "agent", id: "incident-bot" },
      action: { name: "filesystem/read_file" },
      resource: { type: "server", id: "filesystem" },
      options: { verdict_context: true },
    };
    const one = await post("/access/v1/evaluation", { ...authzen, context: readFile(user("mallory")).context });
    expect(one.body).toMatchObject({ decision: false, context: { reasons: ["verdict:unknown-user"] } });
    const many = await post("/access/v1/evaluations", { ...authzen, evaluations: [{ context: readFile(user("alice")).context }, { context: readFile(user("mallory")).context }] });
    expect(many.body.evaluations.map((e: { context: { reasons: string[] } }) => e.context.reasons)).toEqual([["allow-file-reads"], ["verdict:unknown-user"]]);
  });

  it("a user written without __entity still gets Verdict's groups: an unverified contractor is forbidden either way", async () => {
    for (const carol of [user("carol"), { type: "Mcp::User", id: "carol" }]) {
      const { body } = await post("/v1/authorize", readFile(carol));
      expect(body).toMatchObject({ decision: "deny", reasons: ["forbid-unverified-contractors"] });
      expect((await record(body.decisionId)).user).toBe("carol");
    }
  });

  it("a held entity's parents and attributes cannot be extended or replaced by the caller", async () => {
    // Redefining an entity Verdict holds (report-bot, no grants) with a group: refused, recorded nowhere.
    const forged = { uid: agent("report-bot"), attrs: { environment: "production" }, parents: [{ type: "Mcp::AgentGroup", id: "coding-agents" }] };
    const redefine = await post("/v1/authorize", echo(agent("report-bot"), { entities: [forged] }));
    expect(redefine.status).toBe(400);
    expect(redefine.body.error.message).toContain('Mcp::Agent::"report-bot"');
    // Without the forged entity, report-bot is denied: what Verdict holds decides.
    expect((await post("/v1/authorize", echo(agent("report-bot")))).body).toMatchObject({ decision: "deny" });
    // AuthZEN properties of a held subject are ignored (no environment, so no allow).
    const props = await post("/access/v1/evaluation", authzenEcho({ type: "agent", id: "report-bot", properties: { environment: "production" } }));
    expect(props.body.decision).toBe(false);
    expect(props.body.context.reasons).not.toContain("allow-echo-for-production-agents");
  });

  it("refuses caller-supplied entities that claim a parent Verdict holds, even beside a held principal", async () => {
    for (const parent of [{ type: "Mcp::AgentGroup", id: "coding-agents" }, { type: "Mcp::Group", id: "sre" }]) {
      const intruder = { uid: { type: parent.type === "Mcp::Group" ? "Mcp::User" : "Mcp::Agent", id: "intruder" }, attrs: {}, parents: [parent] };
      const res = await post("/v1/authorize", echo(agent("code-assistant"), { entities: [intruder] }));
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain(`${parent.type}::"${parent.id}"`);
    }
    // A supplied entity with no held parent is still accepted (here one the request does not read).
    const loose = { uid: { type: "Mcp::Agent", id: "loose" }, attrs: {}, parents: [] };
    expect((await post("/v1/authorize", echo(agent("code-assistant"), { entities: [loose] }))).body).toMatchObject({ decision: "allow" });
  });

  it('decides "session": {} with the time fields set, on /v1/authorize, the batch and AuthZEN', async () => {
    const before = Math.floor(Date.now() / 1000);
    const bare = echo(agent("code-assistant"), { context: { input: { message: "hi" }, session: {} } });
    const one = await post("/v1/authorize", bare);
    expect(one.body).toMatchObject({ decision: "allow", reasons: ["allow-everything-demo-tools"], errors: [] });
    const rec = await record(one.body.decisionId);
    const s = rec.request.context.session;
    expect(s.requestTime).toBeGreaterThanOrEqual(before - 5);
    expect(s.requestTime).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 5);
    const at = new Date(s.requestTime * 1000);
    expect(s.hourUtc).toBe(at.getUTCHours());
    expect(s.weekdayUtc).toBe(at.getUTCDay() === 0 ? 7 : at.getUTCDay());
    expect(s.verified).toEqual({ agent: false, user: false });
    // What the caller gives is kept.
    const given = await record((await post("/v1/authorize", echo(agent("code-assistant")))).body.decisionId);
    expect(given.request.context.session).toMatchObject(session);

    // No session at all: Verdict's Mcp::Session is required by every tool action, so it is made.
    const none = echo(agent("code-assistant"), { context: { input: { message: "hi" } } });
    const made = await post("/v1/authorize", none);
    expect(made.body).toMatchObject({ decision: "allow", errors: [] });
    expect(Object.keys((await record(made.body.decisionId)).request.context.session).sort()).toEqual(["hourUtc", "requestTime", "verified", "weekdayUtc"]);

    const batch = await post("/v1/authorize/batch", { requests: [bare, none] });
    expect(batch.body.results.map((r: { decision: string }) => r.decision)).toEqual(["allow", "allow"]);
    const az = await post("/access/v1/evaluation", authzenEcho({ type: "agent", id: "code-assistant" }, { input: { message: "hi" }, session: {} }));
    expect(az.body).toMatchObject({ decision: true });
  });

  it("uses the active policy set's entities: held interop users are decided, an invented one is denied", async () => {
    const MORTY = "CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs";
    const read = (subject: Record<string, unknown>) => ({ subject, action: { name: "can_read_todos" }, resource: { type: "todo", id: "t-1" }, options: { verdict_context: true } });
    expect((await post("/access/v1/evaluation", read({ type: "user", id: MORTY }), interop)).body).toMatchObject({ decision: true });
    const invented = await post("/access/v1/evaluation", read({ type: "user", id: "nobody", properties: { email: "rick@the-citadel.com" } }), interop);
    expect(invented.body).toMatchObject({ decision: false, context: { reasons: ["verdict:unknown-principal"] } });
    const viaAuthorize = await post(
      "/v1/authorize",
      { principal: { type: "Todo::User", id: "nobody" }, action: { type: "Todo::Action", id: "can_read_todos" }, resource: { type: "Todo::Todo", id: "t-1" }, entities: [{ uid: { type: "Todo::User", id: "nobody" }, attrs: {}, parents: [] }] },
      interop,
    );
    expect(viaAuthorize.body).toMatchObject({ decision: "deny", reasons: ["verdict:unknown-principal"] });
    // An invented user made an admin: refused before it could count.
    const admin = await post(
      "/v1/authorize",
      {
        principal: { type: "Todo::User", id: MORTY },
        action: { type: "Todo::Action", id: "can_delete_todo" },
        resource: { type: "Todo::Todo", id: "t-1" },
        entities: [{ uid: { type: "Todo::User", id: "nobody" }, attrs: {}, parents: [{ type: "Todo::Role", id: "admin" }] }],
      },
      interop,
    );
    expect(admin.status).toBe(400);
  });
});

describe("defect 5: AuthZEN, which carries no tokens, honours VERDICT_REQUIRE_VERIFIED as /v1/authorize does", () => {
  let strict: TestVerdict;
  beforeAll(async () => {
    strict = await startTestVerdict({ requireVerified: "agent" });
  }, 120_000);
  afterAll(async () => {
    await strict?.dispose();
  });

  it("answers every evaluation false, naming verdict:unverified-agent", async () => {
    const held = authzenEcho({ type: "agent", id: "code-assistant" });
    const authorize = await post("/v1/authorize", echo(agent("code-assistant")), strict, TEST_ADMIN_KEY);
    expect(authorize.body).toMatchObject({ decision: "deny", reasons: ["verdict:unverified-agent"] });
    const one = await post("/access/v1/evaluation", held, strict, TEST_ADMIN_KEY);
    expect(one.body).toMatchObject({ decision: false, context: { reasons: ["verdict:unverified-agent"] } });
    const mcp = await post(
      "/access/v1/evaluations",
      {
        subject: { type: "agent", id: "code-assistant" },
        action: { name: "tools/call" },
        evaluations: [{ resource: { type: "tool", id: "everything/echo", properties: { arguments: { message: "hi" } } } }, { resource: held.resource, action: held.action, context: held.context }],
        options: { verdict_context: true },
      },
      strict,
      TEST_ADMIN_KEY,
    );
    expect(mcp.body.evaluations.map((e: { decision: boolean; context: { reasons: string[] } }) => [e.decision, e.context.reasons])).toEqual([
      [false, ["verdict:unverified-agent"]],
      [false, ["verdict:unverified-agent"]],
    ]);
  });
});
