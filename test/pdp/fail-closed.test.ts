/**
 * Issue 11, defect 1: Cedar skips a policy whose evaluation errors (cedar-policy/cedar#2428), so
 * an erroring `forbid` let a `permit` through. Verdict fails closed instead: when any errored
 * policy is a forbid, the answer is `deny` with `verdict:forbid-errored` and the forbid's id, the
 * errors kept; a deny no policy determined names `verdict:no-permit`.
 *
 * A generated policy set has one permit for agent `bot` on every tool of server `calc`, and one
 * forbid per tool that errors at run time in its own way, each of them valid in Cedar's strict
 * mode. Every such call is sent over real HTTP on every path that decides (tools/call,
 * tools/list, /v1/authorize and its batch, both AuthZEN endpoints in both mappings, replay) and
 * through the policy fixtures (`verdict test`); the test counts the intended denies answered
 * allow and prints "intended denies answered allow: X of N".
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PreparedEngine } from "../../src/cedar/engine.js";
import { engineRequest, evaluateToolCall } from "../../src/pdp/tool-call.js";
import { loadFixtures, runFixtures } from "../../src/policy/fixtures.js";
import { loadPolicySet } from "../../src/policy/build.js";
import type { PolicySet } from "../../src/policy/policy-set.js";
import { readSources } from "../../src/policy/sources.js";
import { EXAMPLE_SCHEMA_DIR, TEST_ADMIN_KEY } from "../helpers/app.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

/** One way a forbid errors at run time, with the call that makes it error. */
interface Construct {
  construct: string;
  tool: string;
  forbid: string;
  /** Arguments that make the forbid error (the intended deny). */
  args: Record<string, unknown>;
  /** Arguments for which nothing errors and the permit allows (the call is not broken). */
  benign?: Record<string, unknown>;
  /** The forbid errors whatever the arguments: tools/list must hide the tool. */
  always?: boolean;
  policy: string;
}

const count = { type: "object", properties: { count: { type: "integer" } }, required: ["count"] };
const CONSTRUCTS: Construct[] = [
  {
    construct: "Long overflow through *",
    tool: "multiply",
    forbid: "forbid-big-product",
    args: { count: 10_000_000 },
    benign: { count: 1 },
    policy: `forbid (principal, action == Mcp::Action::"calc/multiply", resource)
when { context.input.count * 1000000000000 > 5000000000000 };`,
  },
  {
    construct: "Long overflow through +",
    tool: "add",
    forbid: "forbid-big-sum",
    args: { count: 10_000_000 },
    benign: { count: 1 },
    policy: `forbid (principal, action == Mcp::Action::"calc/add", resource)
when { context.input.count + 9223372036854775000 > 9223372036854775800 };`,
  },
  {
    construct: "Long overflow through binary -",
    tool: "subtract",
    forbid: "forbid-big-difference",
    args: { count: 10_000_000 },
    benign: { count: 1 },
    policy: `forbid (principal, action == Mcp::Action::"calc/subtract", resource)
when { -9223372036854775000 - context.input.count < -9223372036854775800 };`,
  },
  {
    construct: "Long overflow through unary - (negating the least Long)",
    tool: "negate",
    forbid: "forbid-negated",
    args: { count: 0 },
    benign: { count: 1 },
    policy: `forbid (principal, action == Mcp::Action::"calc/negate", resource)
when { -(context.input.count - 9223372036854775807 - 1) < 0 };`,
  },
  {
    construct: "datetime overflow (offset by a duration), for some arguments",
    tool: "schedule",
    forbid: "forbid-far-schedule",
    args: { days: 400 },
    benign: { days: 1 },
    policy: `forbid (principal, action == Mcp::Action::"calc/schedule", resource)
when { context.input.days > 365 && datetime("2024-01-01").offset(duration("9223372036854775807ms")) > datetime("2024-01-01") };`,
  },
  {
    construct: "datetime overflow, for every call",
    tool: "deploy",
    forbid: "forbid-deploy-after-freeze",
    args: {},
    always: true,
    policy: `forbid (principal, action == Mcp::Action::"calc/deploy", resource)
when { datetime("9999-12-31").offset(duration("9223372036854775807ms")) > datetime("2024-01-01") };`,
  },
  {
    construct: "has-guarded attribute of an entity not in the slice (the principal's supervisor)",
    tool: "lookup",
    forbid: "forbid-suspended-supervisor",
    args: { key: "k" },
    always: true,
    policy: `forbid (principal, action == Mcp::Action::"calc/lookup", resource)
when { principal has supervisor && principal.supervisor.suspended };`,
  },
  {
    construct: "attribute of an entity the request names but that is not in the entities (the resource)",
    tool: "fetch",
    forbid: "forbid-high-tier-server",
    args: { url: "https://example.test/" },
    always: true,
    policy: `forbid (principal, action == Mcp::Action::"calc/fetch", resource)
when { resource.tier > 2 };`,
  },
  {
    construct: "Long overflow in a template-linked forbid",
    tool: "linked",
    forbid: "forbid-big-linked",
    args: { count: 10_000_000 },
    benign: { count: 1 },
    policy: "", // the template is in TEMPLATE below
  },
];

const TEMPLATE = `@id("forbid-big-linked-template")
forbid (principal == ?principal, action == Mcp::Action::"calc/linked", resource)
when { context.input.count * 1000000000000 > 5000000000000 };`;

const PERMITS = `@id("permit-bot-calc")
permit (principal == Mcp::Agent::"bot", action in Mcp::Action::"calc", resource);

// An errored permit does not count: bot2 may negate only when this product can be evaluated.
@id("permit-errored")
permit (principal == Mcp::Agent::"bot2", action == Mcp::Action::"calc/negate", resource)
when { context.input.count * 1000000000000 > 0 };
`;

/** A second forbid on multiply, satisfied for one count: a policy-determined deny beside an errored forbid. */
const DETERMINING = `@id("forbid-count-10000001")
forbid (principal, action == Mcp::Action::"calc/multiply", resource)
when { context.input.count == 10000001 };`;

const inputSchema = (tool: string) => {
  if (["multiply", "add", "subtract", "negate", "linked"].includes(tool)) return count;
  if (tool === "schedule") return { type: "object", properties: { days: { type: "integer" } }, required: ["days"] };
  if (tool === "lookup") return { type: "object", properties: { key: { type: "string" } }, required: ["key"] };
  if (tool === "fetch") return { type: "object", properties: { url: { type: "string" } }, required: ["url"] };
  return { type: "object", properties: {} };
};
const CATALOG = { tools: CONSTRUCTS.map((c) => ({ name: c.tool, description: `calc ${c.tool}`, inputSchema: inputSchema(c.tool) })) };

const ENTITIES = [
  { uid: { type: "Mcp::AgentGroup", id: "calc-agents" }, attrs: {}, parents: [] },
  // The supervisor is in entities.json, but a decision's slice holds only the entities it names.
  { uid: { type: "Mcp::Agent", id: "bot" }, attrs: { supervisor: { __entity: { type: "Mcp::User", id: "alice" } } }, parents: [{ type: "Mcp::AgentGroup", id: "calc-agents" }] },
  { uid: { type: "Mcp::Agent", id: "bot2" }, attrs: {}, parents: [] },
  { uid: { type: "Mcp::User", id: "alice" }, attrs: { suspended: true }, parents: [] },
  // No Mcp::Server::"calc" entity: its required `tier` cannot be read.
];

/**
 * The example base schema with three attributes added: an agent's optional supervisor (a User),
 * a user's required `suspended` and a server's required `tier`.
 */
function schemaText(): string {
  let text = readFileSync(join(EXAMPLE_SCHEMA_DIR, "mcp.cedarschema"), "utf8");
  const add = (anchor: string, attr: string) => {
    expect(text, anchor).toContain(anchor);
    text = text.replace(anchor, `${anchor}\n    ${attr}`);
  };
  add("entity Agent in [AgentGroup] = {", `"supervisor"?: User,`);
  add("entity User in [Group] = {", `"suspended": Bool,`);
  add("entity Server = {", `"tier": Long,`);
  return text;
}

/** Writes a policy directory and schema directory; `withForbids` false leaves only the permits. */
function writePolicySet(root: string, withForbids: boolean): { policyDir: string; schemaDir: string } {
  const policyDir = join(root, "policies");
  const schemaDir = join(root, "schema");
  mkdirSync(join(schemaDir, "servers"), { recursive: true });
  mkdirSync(policyDir, { recursive: true });
  writeFileSync(join(schemaDir, "mcp.cedarschema"), schemaText());
  writeFileSync(join(schemaDir, "servers", "calc.json"), JSON.stringify(CATALOG, null, 2));
  writeFileSync(join(policyDir, "entities.json"), JSON.stringify(ENTITIES, null, 2));
  writeFileSync(join(policyDir, "permits.cedar"), PERMITS);
  if (withForbids) {
    const forbids = CONSTRUCTS.filter((c) => c.policy).map((c) => `// ${c.construct}\n@id(${JSON.stringify(c.forbid)})\n${c.policy}\n`);
    writeFileSync(join(policyDir, "forbids.cedar"), [...forbids, TEMPLATE, DETERMINING].join("\n"));
    writeFileSync(
      join(policyDir, "links.json"),
      JSON.stringify([{ templateId: "forbid-big-linked-template", newId: "forbid-big-linked", values: { "?principal": { type: "Mcp::Agent", id: "bot" } } }]),
    );
    // Fixtures: each erroring call must be denied naming the errored forbid; each benign one allowed.
    mkdirSync(join(policyDir, "DENY"));
    mkdirSync(join(policyDir, "ALLOW"));
    for (const c of CONSTRUCTS) {
      writeFileSync(
        join(policyDir, "DENY", `${c.tool}-errors.json`),
        JSON.stringify({ description: c.construct, call: { agent: "bot", server: "calc", tool: c.tool, arguments: c.args }, reasons: ["verdict:forbid-errored", c.forbid] }),
      );
      if (c.benign) {
        writeFileSync(
          join(policyDir, "ALLOW", `${c.tool}-benign.json`),
          JSON.stringify({ description: `${c.construct}: no error`, call: { agent: "bot", server: "calc", tool: c.tool, arguments: c.benign }, reasons: ["permit-bot-calc"] }),
        );
      }
    }
  }
  return { policyDir, schemaDir };
}

/** Intended denies per path: how many were asked, how many were answered allow. */
const tally = new Map<string, { n: number; allowed: number }>();
function count1(path: string, allowed: boolean): void {
  const t = tally.get(path) ?? { n: 0, allowed: 0 };
  t.n++;
  if (allowed) t.allowed++;
  tally.set(path, t);
}

let root: string;
let dirs: { policyDir: string; schemaDir: string };
let ps: PolicySet;
let v: TestVerdict;
/** A Verdict whose active set has only the permits: its allows are replayed against the forbids. */
let before: TestVerdict;

const session = { requestTime: 1_772_445_600, hourUtc: 10, weekdayUtc: 1 };
const post = async (base: TestVerdict, path: string, body: unknown) => {
  const res = await fetch(`${base.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  expect(res.status, `${path}: ${text}`).toBe(200);
  return JSON.parse(text);
};
const get = async (base: TestVerdict, path: string) => {
  const res = await fetch(`${base.url}${path}`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
  expect(res.status).toBe(200);
  return res.json();
};
const toolCall = (c: Construct, args = c.args) => ({ agent: "bot", server: "calc", tool: c.tool, arguments: args });
const cedarRequest = (c: Construct, args = c.args) => ({
  principal: { type: "Mcp::Agent", id: "bot" },
  action: { type: "Mcp::Action", id: `calc/${c.tool}` },
  resource: { type: "Mcp::Server", id: "calc" },
  context: { input: args, session },
});
const authzenMcp = (c: Construct, args = c.args) => ({
  subject: { type: "agent", id: "bot" },
  action: { name: "tools/call" },
  resource: { type: "tool", id: `calc/${c.tool}`, properties: { arguments: args } },
});
const authzenCedar = (c: Construct, args = c.args) => ({
  subject: { type: "Mcp::Agent", id: "bot" },
  action: { name: `calc/${c.tool}` },
  resource: { type: "Mcp::Server", id: "calc" },
  context: { input: args, session },
});

/** Whether a deny names the errored forbid the way the rule says. */
const namesForbid = (reasons: string[], c: Construct) => reasons[0] === "verdict:forbid-errored" && reasons.includes(c.forbid);

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "verdict-fail-closed-"));
  dirs = writePolicySet(join(root, "with-forbids"), true);
  const permitsOnly = writePolicySet(join(root, "permits-only"), false);
  ps = loadPolicySet(dirs.policyDir, dirs.schemaDir);
  v = await startTestVerdict(dirs);
  before = await startTestVerdict(permitsOnly);
}, 120_000);

afterAll(async () => {
  await Promise.all([v?.dispose(), before?.dispose()]);
  const rows = [...tally.entries()].map(([path, t]) => `  ${path}: ${t.allowed} of ${t.n}`);
  const n = [...tally.values()].reduce((a, t) => a + t.n, 0);
  const allowed = [...tally.values()].reduce((a, t) => a + t.allowed, 0);
  console.log(`intended denies answered allow: ${allowed} of ${n}\n${rows.join("\n")}`);
  rmSync(root, { recursive: true, force: true });
});

describe("defect 1: an erroring forbid lets a permit through", () => {
  it("the policy set passes strict validation, and every benign call is allowed (the permit works)", async () => {
    expect(ps.warnings).toEqual([]);
    for (const c of CONSTRUCTS.filter((x) => x.benign)) {
      const answer = await post(v, "/v1/mcp/tools/call", toolCall(c, c.benign));
      expect(answer, c.construct).toMatchObject({ decision: "allow", reasons: ["permit-bot-calc"], errors: [] });
    }
  }, 60_000);

  it("POST /v1/mcp/tools/call denies every erroring call, naming the forbid and keeping the error", async () => {
    const answers = [];
    for (const c of CONSTRUCTS) {
      const answer = await post(v, "/v1/mcp/tools/call", toolCall(c));
      count1("tools/call", answer.decision === "allow");
      answers.push({ c, answer });
    }
    for (const { c, answer } of answers) {
      expect(answer.decision, c.construct).toBe("deny");
      expect(answer.reasons, c.construct).toEqual(["verdict:forbid-errored", c.forbid]);
      expect(answer.errors.map((e: { policyId: string }) => e.policyId), c.construct).toContain(c.forbid);
      expect(answer.message, c.construct).toContain(c.forbid);
      const record = await get(v, `/v1/decisions/${answer.decisionId}`);
      expect(record).toMatchObject({ decision: "deny", reasons: ["verdict:forbid-errored", c.forbid] });
    }
  }, 60_000);

  it("mints no per-call credential for such a deny", async () => {
    const minted = [];
    for (const c of CONSTRUCTS) {
      const answer = await post(v, "/v1/mcp/tools/call", { ...toolCall(c), credential: true });
      count1("tools/call with credential", answer.decision === "allow");
      minted.push({ c, answer });
    }
    const withCredential = minted.filter((m) => m.answer.credential !== undefined).length;
    console.log(`per-call credentials minted for intended denies: ${withCredential} of ${minted.length}`);
    for (const { c, answer } of minted) {
      expect(answer.credential, c.construct).toBeUndefined();
      expect((await get(v, `/v1/decisions/${answer.decisionId}`)).credentialJti, c.construct).toBeNull();
    }
    // a benign call still gets its credential, so the check above can fail
    const benign = await post(v, "/v1/mcp/tools/call", { ...toolCall(CONSTRUCTS[0]!, { count: 1 }), credential: true });
    expect(benign.credential.token.split(".")).toHaveLength(3);
  }, 60_000);

  it("POST /v1/mcp/tools/list hides each tool whose forbid errors for any arguments, and shows the others", async () => {
    const answer = await post(v, "/v1/mcp/tools/list", { agent: "bot", server: "calc", tools: CATALOG.tools });
    const hidden = new Map<string, string>(answer.hidden.map((h: { name: string; reason: string }) => [h.name, h.reason]));
    for (const c of CONSTRUCTS.filter((x) => x.always)) count1("tools/list", !hidden.has(c.tool));
    for (const c of CONSTRUCTS) {
      if (c.always) {
        expect(hidden.get(c.tool), c.construct).toContain("verdict:forbid-errored");
        expect(hidden.get(c.tool), c.construct).toContain(c.forbid);
      } else {
        // some arguments are allowed (the benign ones), so the tool is callable and listed
        expect(answer.tools.map((t: { name: string }) => t.name), c.construct).toContain(c.tool);
      }
    }
  }, 60_000);

  it("POST /v1/authorize and /v1/authorize/batch deny every erroring request, naming the forbid", async () => {
    const single = [];
    for (const c of CONSTRUCTS) {
      const answer = await post(v, "/v1/authorize", cedarRequest(c));
      count1("authorize", answer.decision === "allow");
      single.push({ c, answer });
    }
    const { results } = await post(v, "/v1/authorize/batch", { requests: CONSTRUCTS.map((c) => cedarRequest(c)) });
    for (const r of results) count1("authorize/batch", r.decision === "allow");
    for (const [i, c] of CONSTRUCTS.entries()) {
      for (const answer of [single[i]!.answer, results[i]]) {
        expect(answer.decision, c.construct).toBe("deny");
        expect(answer.reasons, c.construct).toEqual(["verdict:forbid-errored", c.forbid]);
        expect(answer.errors.some((e: { policyId: string }) => e.policyId === c.forbid), c.construct).toBe(true);
      }
    }
  }, 60_000);

  it("both AuthZEN endpoints answer decision false, in the MCP binding and the Cedar mapping", async () => {
    const options = { verdict_context: true };
    const check = (path: string, c: Construct, d: { decision: boolean; context: { reasons: string[] } }) => {
      count1(path, d.decision === true);
      return { c, d };
    };
    const seen = [];
    for (const c of CONSTRUCTS) {
      seen.push(check("AuthZEN evaluation (MCP binding)", c, await post(v, "/access/v1/evaluation", { ...authzenMcp(c), options })));
      seen.push(check("AuthZEN evaluation (Cedar mapping)", c, await post(v, "/access/v1/evaluation", { ...authzenCedar(c), options })));
    }
    for (const [name, build] of [
      ["AuthZEN evaluations (MCP binding)", authzenMcp],
      ["AuthZEN evaluations (Cedar mapping)", authzenCedar],
    ] as const) {
      const { evaluations } = await post(v, "/access/v1/evaluations", { evaluations: CONSTRUCTS.map((c) => build(c)), options });
      expect(evaluations).toHaveLength(CONSTRUCTS.length);
      for (const [i, c] of CONSTRUCTS.entries()) seen.push(check(name, c, evaluations[i]));
    }
    for (const { c, d } of seen) {
      expect(d.decision, c.construct).toBe(false);
      expect(namesForbid(d.context.reasons, c), `${c.construct}: ${d.context.reasons}`).toBe(true);
    }
  }, 60_000);

  it("replay of the set with the forbids turns every allow recorded under the permits alone into a deny", async () => {
    for (const c of CONSTRUCTS) {
      expect((await post(before, "/v1/mcp/tools/call", toolCall(c))).decision).toBe("allow");
      expect((await post(before, "/v1/authorize", cedarRequest(c))).decision).toBe("allow");
    }
    const published = await fetch(`${before.url}/v1/policy-sets`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ sources: readSources(dirs.policyDir, dirs.schemaDir) }),
    });
    expect(published.status).toBe(201);
    const { version } = await published.json();
    expect(version).toBe(ps.version);
    const report = await post(before, `/v1/policy-sets/${version}/replay`, { examples: 100 });
    expect(report.replayed).toBe(2 * CONSTRUCTS.length);
    for (let i = 0; i < report.replayed; i++) count1("replay", i >= report.flips.allowToDeny);
    expect(report.flips).toEqual({ allowToDeny: 2 * CONSTRUCTS.length, denyToAllow: 0 });
    for (const ex of report.examples.allowToDeny) {
      const c = CONSTRUCTS.find((x) => x.tool === ex.tool)!;
      expect(ex.candidate.reasons, c.construct).toEqual(["verdict:forbid-errored", c.forbid]);
    }
  }, 120_000);

  it("policy fixtures (verdict test) deny every erroring call and allow every benign one", () => {
    const results = runFixtures(ps, loadFixtures(dirs.policyDir));
    expect(results).toHaveLength(CONSTRUCTS.length + CONSTRUCTS.filter((c) => c.benign).length);
    for (const r of results) if (r.fixture.decision === "deny") count1("fixtures", r.actual.decision === "allow");
    expect(results.filter((r) => !r.passed).map((r) => `${r.fixture.name}: ${r.problems.join("; ")}`)).toEqual([]);
  });

  it("the fast path and the plain path both apply the rule", () => {
    const plain = new PreparedEngine(ps.schema, ps.engine.set, { actionIndex: false });
    expect(ps.engine.indexedActions).toBeGreaterThan(0);
    for (const c of CONSTRUCTS) {
      const e = evaluateToolCall(ps, toolCall(c), new Date());
      const fast = ps.engine.authorize(engineRequest(e.request));
      expect(fast, c.construct).toEqual(plain.authorize(engineRequest(e.request)));
      expect(fast.decision, c.construct).toBe("deny");
      expect(fast.reasons, c.construct).toEqual(["verdict:forbid-errored", c.forbid]);
    }
  });

  it("an errored permit does not count: the deny names verdict:no-permit and keeps the error", async () => {
    const negate = CONSTRUCTS.find((c) => c.tool === "negate")!;
    // 10,000,000 overflows the permit's product; the forbid (which errors only for 0) evaluates
    const answer = await post(v, "/v1/mcp/tools/call", { ...toolCall(negate, { count: 10_000_000 }), agent: "bot2" });
    expect(answer).toMatchObject({ decision: "deny", reasons: ["verdict:no-permit"] });
    expect(answer.errors.map((e: { policyId: string }) => e.policyId)).toEqual(["permit-errored"]);
    expect(answer.message).toMatch(/^denied: no policy permits this call \(errored, so not counted: permit-errored: integer overflow/);
    // without the error, the same permit allows
    expect(await post(v, "/v1/mcp/tools/call", { ...toolCall(negate, { count: 1 }), agent: "bot2" })).toMatchObject({ decision: "allow", reasons: ["permit-errored"] });
  }, 60_000);

  it("a deny determined by a satisfied forbid keeps that forbid as its reason, and the errors", async () => {
    const answer = await post(v, "/v1/mcp/tools/call", toolCall(CONSTRUCTS[0]!, { count: 10_000_001 }));
    expect(answer).toMatchObject({ decision: "deny", reasons: ["forbid-count-10000001"] });
    expect(answer.errors.map((e: { policyId: string }) => e.policyId)).toContain("forbid-big-product");
  }, 60_000);

  it("only the conformance runner's raw Cedar semantics let the erroring forbid be skipped", () => {
    const raw = new PreparedEngine(ps.schema, ps.engine.set, { semantics: "cedar" });
    const e = evaluateToolCall(ps, toolCall(CONSTRUCTS[0]!), new Date());
    expect(raw.authorize(engineRequest(e.request))).toMatchObject({ decision: "allow", reasons: ["permit-bot-calc"] });
    const denied = evaluateToolCall(ps, { ...toolCall(CONSTRUCTS[1]!, { count: 1 }), agent: "bot2" }, new Date());
    expect(raw.authorize(engineRequest(denied.request))).toEqual({ decision: "deny", reasons: [], errors: [] });
    expect(ps.engine.authorize(engineRequest(denied.request))).toEqual({ decision: "deny", reasons: ["verdict:no-permit"], errors: [] });
  });

  it("answers none of the intended denies with allow, on any path", () => {
    const paths = [...tally.keys()];
    expect(paths).toEqual(
      expect.arrayContaining([
        "tools/call",
        "tools/call with credential",
        "tools/list",
        "authorize",
        "authorize/batch",
        "AuthZEN evaluation (MCP binding)",
        "AuthZEN evaluation (Cedar mapping)",
        "AuthZEN evaluations (MCP binding)",
        "AuthZEN evaluations (Cedar mapping)",
        "replay",
        "fixtures",
      ]),
    );
    const allowed = Object.fromEntries([...tally].filter(([, t]) => t.allowed > 0).map(([p, t]) => [p, `${t.allowed} of ${t.n}`]));
    expect(allowed).toEqual({});
  });
});

