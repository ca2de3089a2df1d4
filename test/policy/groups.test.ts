/**
 * Tool groups (`src/policy/groups.ts`): groups declared in `schema/groups.json` and the three
 * derived from the pinned annotations are Cedar action groups. Decided through the real path
 * (`evaluateToolCall`, as `tools/call` and the fixtures evaluate) on the example set's real
 * catalogs; load errors name the file and the group or tool; a published version carries
 * `groups.json`, so activating and replaying it decide with its groups.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPolicySet } from "../../src/policy/build.js";
import { DERIVED_GROUPS } from "../../src/policy/groups.js";
import { PolicySetError, type LoadIssue } from "../../src/policy/issues.js";
import { loadFixtures } from "../../src/policy/fixtures.js";
import type { PolicySet } from "../../src/policy/policy-set.js";
import { readSources, type PolicySetSources } from "../../src/policy/sources.js";
import { evaluateToolCall } from "../../src/pdp/tool-call.js";
import { createTestApp, EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, ROOT, type TestApp } from "../helpers/app.js";

const now = new Date("2026-03-02T10:00:00Z");
const base = readSources(EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR);
const allowFixtures = loadFixtures(EXAMPLE_POLICY_DIR).filter((f) => f.decision === "allow");
const docs = readFileSync(join(ROOT, "docs", "policy-authoring.md"), "utf8");

/** The `groups.json` and policies of docs/policy-authoring.md ("Tool groups"), checked to be there verbatim. */
const GROUPS_JSON = `{
  "reads-secrets": ["everything/get-env", "filesystem/read_file", "filesystem/read_multiple_files"],
  "egress": ["everything/gzip-file-as-resource"]
}
`;
const SECRETS_POLICY = `@id("secrets-need-a-verified-user")
forbid (principal, action in Mcp::Action::"reads-secrets", resource)
unless { context.session.verified.user };
`;
const DESTRUCTIVE_POLICY = `@id("destructive-only-on-incidents")
forbid (principal, action in Mcp::Action::"destructive", resource)
unless {
  context.session has task &&
  context.session.task has kind &&
  context.session.task.kind == "incident"
};
`;

function withSources(extra: { groups?: string; policies?: Record<string, string>; catalogs?: Record<string, string> }): PolicySetSources {
  const out: PolicySetSources = { ...base, policies: { ...base.policies, ...extra.policies }, catalogs: { ...base.catalogs, ...extra.catalogs } };
  if (extra.groups !== undefined) out.groups = extra.groups;
  return out;
}

/** The issues a set's sources fail with. */
function issuesOf(sources: PolicySetSources): LoadIssue[] {
  try {
    buildPolicySet(sources);
  } catch (e) {
    if (e instanceof PolicySetError) return e.issues;
    throw e;
  }
  throw new Error("the set loaded");
}

const decide = (ps: PolicySet, call: (typeof allowFixtures)[number]["call"]) => evaluateToolCall(ps, call, now);
const toolOf = (f: (typeof allowFixtures)[number]) => `${f.call.server}/${f.call.tool}`;

describe("the docs' examples", () => {
  it("are in docs/policy-authoring.md as tested here", () => {
    for (const text of [GROUPS_JSON, SECRETS_POLICY, DESTRUCTIVE_POLICY]) expect(docs).toContain(text);
    // the README's Cedar model shows the groups file and the destructive example
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    for (const text of [GROUPS_JSON, DESTRUCTIVE_POLICY]) expect(readme).toContain(text);
  });
});

describe("declared groups (schema/groups.json)", () => {
  const ps = buildPolicySet(withSources({ groups: GROUPS_JSON, policies: { "secrets.cedar": SECRETS_POLICY } }));
  const secrets = new Set(["everything/get-env", "filesystem/read_file", "filesystem/read_multiple_files"]);

  it("are action groups of the schema and parents of their tools", () => {
    expect(ps.groups.get("reads-secrets")).toEqual([...secrets].sort());
    expect(ps.groups.get("egress")).toEqual(["everything/gzip-file-as-resource"]);
    expect([...ps.groups.keys()]).toEqual(["reads-secrets", "egress", ...DERIVED_GROUPS]);
    expect(ps.schema.Mcp!.actions["reads-secrets"]).toEqual({});
    expect(ps.actionEntities.get("filesystem/read_file")!.parents.map((p) => p.id)).toEqual(["filesystem", "call_tool", "reads-secrets", "read-only"]);
    expect(ps.actionEntities.get("filesystem/write_file")!.parents.map((p) => p.id)).toEqual(["filesystem", "call_tool", "destructive"]);
  });

  it("a forbid on a group denies exactly its tools", () => {
    const baseline = buildPolicySet(withSources({ groups: GROUPS_JSON }));
    let denied = 0;
    for (const f of allowFixtures) {
      expect(decide(baseline, f.call).decision, f.file).toBe("allow");
      const e = decide(ps, f.call);
      if (secrets.has(toolOf(f))) {
        denied++;
        expect({ file: f.file, decision: e.decision, reasons: e.reasons }).toEqual({ file: f.file, decision: "deny", reasons: ["secrets-need-a-verified-user"] });
      } else expect({ file: f.file, decision: e.decision }).toEqual({ file: f.file, decision: "allow" });
    }
    // the fixtures read a runbook and several files: both tools are in the group
    expect(denied).toBe(2);
  });
});

describe("derived groups (pinned annotations, MCP's defaults for absent hints)", () => {
  const ps = buildPolicySet(base);
  const group = (g: string) => new Set(ps.groups.get(g));

  it("hold exactly the tools MCP's defaults say, on the real catalogs", () => {
    const want: Record<string, string[]> = { "read-only": [], destructive: [], "open-world": [] };
    for (const [server, text] of Object.entries(base.catalogs)) {
      for (const t of (JSON.parse(text) as { tools: Array<{ name: string; annotations?: Record<string, unknown> }> }).tools) {
        const a = t.annotations ?? {};
        const id = `${server}/${t.name}`;
        // readOnlyHint defaults to false, destructiveHint to true (read only when not read-only), openWorldHint to true
        if (a.readOnlyHint === true) want["read-only"]!.push(id);
        else if (a.destructiveHint !== false) want.destructive!.push(id);
        if (a.openWorldHint !== false) want["open-world"]!.push(id);
      }
    }
    for (const g of DERIVED_GROUPS) expect(ps.groups.get(g), g).toEqual(want[g]!.sort());
    expect(ps.groups.get("read-only")!.length + ps.groups.get("destructive")!.length).toBeLessThan(ps.tools.size);
  });

  it("follow each hint as pinned", () => {
    // readOnlyHint true, destructiveHint absent (meaningless for a read-only tool), openWorldHint false
    expect(["read-only", "destructive", "open-world"].map((g) => group(g).has("filesystem/read_file"))).toEqual([true, false, false]);
    // readOnlyHint false, destructiveHint true
    expect(["read-only", "destructive", "open-world"].map((g) => group(g).has("filesystem/write_file"))).toEqual([false, true, false]);
    // readOnlyHint false, destructiveHint false: a write that is not destructive
    expect(["read-only", "destructive", "open-world"].map((g) => group(g).has("filesystem/create_directory"))).toEqual([false, false, false]);
    expect(["read-only", "destructive", "open-world"].map((g) => group(g).has("memory/delete_entities"))).toEqual([false, true, false]);
    // openWorldHint true
    expect(["read-only", "destructive", "open-world"].map((g) => group(g).has("everything/gzip-file-as-resource"))).toEqual([false, false, true]);
  });

  it("take MCP's defaults for absent hints", () => {
    const catalog = {
      tools: [
        { name: "bare", inputSchema: { type: "object" } },
        { name: "empty", inputSchema: { type: "object" }, annotations: {} },
        { name: "writes", inputSchema: { type: "object" }, annotations: { readOnlyHint: false } },
        { name: "reads", inputSchema: { type: "object" }, annotations: { readOnlyHint: true, destructiveHint: true } },
        { name: "closed", inputSchema: { type: "object" }, annotations: { destructiveHint: false, openWorldHint: false } },
        { name: "odd", inputSchema: { type: "object" }, annotations: { readOnlyHint: "yes", openWorldHint: 0 } },
      ],
    };
    const set = buildPolicySet(withSources({ catalogs: { hints: JSON.stringify(catalog) } }));
    const of = (tool: string) => DERIVED_GROUPS.filter((g) => set.groups.get(g)!.includes(`hints/${tool}`));
    expect(Object.fromEntries(catalog.tools.map((t) => [t.name, of(t.name)]))).toEqual({
      bare: ["destructive", "open-world"],
      empty: ["destructive", "open-world"],
      writes: ["destructive", "open-world"],
      reads: ["read-only", "open-world"],
      closed: [],
      // a hint that is not a boolean is no hint
      odd: ["destructive", "open-world"],
    });
  });

  it("a forbid on destructive denies exactly the destructive calls off an incident", () => {
    const guarded = buildPolicySet(withSources({ policies: { "destructive.cedar": DESTRUCTIVE_POLICY } }));
    const destructive = group("destructive");
    const deniedTools = new Set<string>();
    for (const f of allowFixtures) {
      const e = decide(guarded, f.call);
      const offIncident = f.call.task?.kind !== "incident";
      if (destructive.has(toolOf(f)) && offIncident) {
        deniedTools.add(toolOf(f));
        expect({ file: f.file, decision: e.decision, reasons: e.reasons }).toEqual({ file: f.file, decision: "deny", reasons: ["destructive-only-on-incidents"] });
      } else expect({ file: f.file, decision: e.decision }).toEqual({ file: f.file, decision: "allow" });
    }
    // edit, write and move in the sandbox on a ticket are denied; create_directory (destructiveHint false) is not
    expect([...deniedTools].sort()).toEqual(["filesystem/edit_file", "filesystem/move_file", "filesystem/write_file"]);
  });

  it("are declared even when no tool is in them, so policies on them validate", () => {
    const set = buildPolicySet({ ...base, catalogs: { memory: base.catalogs.memory! }, policies: { "p.cedar": `forbid (principal, action in Mcp::Action::"open-world", resource);\n` } });
    expect(set.groups.get("open-world")).toEqual([]);
  });
});

describe("load errors name the file and the group or tool", () => {
  const one = (groups: string) => {
    const issues = issuesOf(withSources({ groups }));
    expect(issues.every((i) => i.file === "schema/groups.json")).toBe(true);
    return issues.map((i) => i.message);
  };

  it("an unknown tool", () => {
    const messages = one(JSON.stringify({ egress: ["everything/gzip-file-as-resource", "vault/read_secret", "filesystem/no_such_tool"] }));
    expect(messages).toHaveLength(2);
    expect(messages[0]).toContain('group "egress" names unknown tool "vault/read_secret"');
    expect(messages[1]).toContain('group "egress" names unknown tool "filesystem/no_such_tool"');
    expect(new PolicySetError(issuesOf(withSources({ groups: '{"egress": ["vault/read_secret"]}' }))).message).toContain('schema/groups.json: group "egress" names unknown tool "vault/read_secret"');
  });

  it("a group id that is a server id", () => {
    expect(one(JSON.stringify({ memory: ["memory/read_graph"] }))).toEqual([expect.stringContaining('group "memory" has the id of server "memory"')]);
  });

  it("a group id that is a derived group or call_tool", () => {
    expect(one(JSON.stringify({ destructive: ["filesystem/read_file"] }))).toEqual([expect.stringContaining('group "destructive" uses a reserved id')]);
    expect(one(JSON.stringify({ call_tool: [] }))).toEqual([expect.stringContaining('group "call_tool" uses a reserved id')]);
  });

  it("malformed JSON", () => {
    const issues = issuesOf(withSources({ groups: '{\n  "egress": ["everything/echo",]\n}' }));
    // located by line and column when V8's message gives a position (Node 22 does, Node 20 not always)
    expect(issues).toEqual([expect.objectContaining({ file: "schema/groups.json", message: expect.stringContaining("JSON") })]);
    expect(new PolicySetError(issues).message).toMatch(/^ {2}schema\/groups\.json(:\d+:\d+)?: /m);
  });

  it("a file of the wrong shape or beyond the bounds", () => {
    expect(one(JSON.stringify(["egress"]))).toHaveLength(1);
    expect(one(JSON.stringify({ egress: "everything/echo" }))[0]).toContain('group "egress"');
    expect(one(JSON.stringify({ "a/b": [] }))[0]).toContain('no "/"');
    expect(one(JSON.stringify({ ["x".repeat(129)]: [] }))[0]).toContain("at most 128 characters");
    const many = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`g${i}`, []]));
    expect(one(JSON.stringify(many))).toEqual([expect.stringContaining("at most 1000 groups")]);
    expect(one(JSON.stringify({ big: Array.from({ length: 10_001 }, () => "everything/echo") }))[0]).toContain("at most 10000 tools");
  });

  it("a server whose id is reserved", () => {
    const issues = issuesOf(withSources({ catalogs: { "read-only": base.catalogs.memory! } }));
    expect(issues).toEqual([expect.objectContaining({ file: "schema/servers/read-only.json", message: expect.stringContaining('server id "read-only" is reserved') })]);
  });

  it("groups.json is read from the schema directory, and a set without it keeps its version", () => {
    expect(base.groups).toBeUndefined();
    expect(buildPolicySet(withSources({ groups: "{}" })).version).not.toBe(buildPolicySet(base).version);
  });
});

describe("a published version carries groups.json", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });
  const readRunbook = allowFixtures.find((f) => f.call.tool === "read_file")!.call;
  const echo = allowFixtures.find((f) => f.call.tool === "echo")!.call;
  const call = async (body: unknown) => (await t.request("/v1/mcp/tools/call", { body })).json();

  it("publish, activate, decide with its groups; its sources, diff and replay keep them", async () => {
    expect(await call(readRunbook)).toMatchObject({ decision: "allow" });
    const baseVersion = (await (await t.request("/v1/policy-sets", { body: { sources: base } })).json()).version;
    const sources = withSources({ groups: GROUPS_JSON, policies: { "secrets.cedar": SECRETS_POLICY } });
    const pub = await t.request("/v1/policy-sets", { body: { sources, message: "reads-secrets" } });
    expect(pub.status).toBe(201);
    const version = (await pub.json()).version;
    expect(version).toBe(buildPolicySet(sources).version);

    const stored = await (await t.request(`/v1/policy-sets/${version}`)).json();
    expect(stored.sources.groups).toBe(GROUPS_JSON);
    const diff = await (await t.request(`/v1/policy-sets/${version}/diff?against=${baseVersion}`)).json();
    expect(diff.files.map((f: { file: string }) => f.file).sort()).toEqual(["policies/secrets.cedar", "schema/groups.json"]);

    // replay of the decisions made so far (under the example set) against the version: the read flips
    const report = await (await t.request(`/v1/policy-sets/${version}/replay`, { body: { examples: 10 } })).json();
    expect(report).toMatchObject({ replayed: 1, flips: { allowToDeny: 1, denyToAllow: 0 } });
    expect(report.examples.allowToDeny[0].candidate).toMatchObject({ decision: "deny", reasons: ["secrets-need-a-verified-user"] });

    expect((await t.request(`/v1/policy-sets/${version}/activate`, { method: "POST" })).status).toBe(200);
    expect(await call(readRunbook)).toMatchObject({ decision: "deny", reasons: ["secrets-need-a-verified-user"], policySetVersion: version });
    expect(await call(echo)).toMatchObject({ decision: "allow", policySetVersion: version });
  }, 120_000);
});
