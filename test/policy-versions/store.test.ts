import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import { ActivePolicySet } from "../../src/policy/active.js";
import { readSources, type PolicySetSources } from "../../src/policy/sources.js";
import { PolicySetCache } from "../../src/policy-versions/store.js";
import { PolicySetSync } from "../../src/policy-versions/sync.js";
import { ToolDriftRegistry } from "../../src/catalog/drift.js";
import { createTestApp, EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, type TestApp } from "../helpers/app.js";

let t: TestApp;
let base: PolicySetSources;
beforeAll(async () => {
  t = await createTestApp();
  base = readSources(EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR);
});
afterAll(async () => {
  await t.close();
});

const call = (body: Record<string, unknown>) => t.request("/v1/mcp/tools/call", { body }).then((r) => r.json());
const reportBotRead = { agent: "report-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/reports/q3.md" } };

/** The example set plus a permit for report-bot to read files. */
function withReportReads(sources: PolicySetSources): PolicySetSources {
  return {
    ...sources,
    policies: {
      ...sources.policies,
      "reports.cedar": `@id("allow-report-reads")\npermit (principal == Mcp::Agent::"report-bot", action == Mcp::Action::"filesystem/read_file", resource == Mcp::Server::"filesystem");\n`,
    },
  };
}

describe("/v1/policy-sets", () => {
  let v1: string;
  let v2: string;

  it("publishes the example set, content-addressed, without activating it", async () => {
    const res = await t.request("/v1/policy-sets", { body: { sources: base, message: "examples" } });
    expect(res.status).toBe(201);
    const body = await res.json();
    v1 = body.version;
    expect(v1).toBe(t.policies.get().version);
    expect(body).toMatchObject({ created: true, active: false, message: "examples" });
    // Who published: the API key the request carried (the test app's admin key).
    expect(body.publishedBy).toMatch(/^apikey:\S+/);
    expect(new Date(body.publishedAt).getTime()).toBeGreaterThan(Date.now() - 60_000);

    const again = await t.request("/v1/policy-sets", { body: { sources: base } });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ version: v1, created: false });
  });

  it("rejects an invalid set with the validator's errors, located by file, line and column", async () => {
    const broken = {
      ...base,
      policies: { ...base.policies, "bad.cedar": `@id("bad")\npermit (principal, action == Mcp::Action::"filesystem/read_file", resource)\nwhen { context.input.paht == "x" };\n` },
    };
    const res = await t.request("/v1/policy-sets", { body: { sources: broken } });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.code).toBe("bad_request");
    expect(body.error.details.issues[0]).toMatchObject({ file: "policies/bad.cedar", line: 3, column: 8, policyId: "bad" });
    expect(body.error.message).toContain("policies/bad.cedar:3:8");
    const list = await (await t.request("/v1/policy-sets")).json();
    expect(list.versions).toHaveLength(1);
  });

  it("activates a version: decisions switch to it and name it; rollback returns to the one before", async () => {
    expect((await call(reportBotRead)).decision).toBe("deny");
    const pub = await (await t.request("/v1/policy-sets", { body: { sources: withReportReads(base) } })).json();
    v2 = pub.version;
    expect(v2).not.toBe(v1);

    expect((await t.request(`/v1/policy-sets/${v1}/activate`, { method: "POST" })).status).toBe(200);
    const act = await t.request(`/v1/policy-sets/${v2.slice(7, 19)}/activate`, { method: "POST" });
    expect(await act.json()).toMatchObject({ version: v2, reason: "activate" });
    const allowed = await call(reportBotRead);
    expect(allowed).toMatchObject({ decision: "allow", reasons: ["allow-report-reads"], policySetVersion: v2 });
    expect((await (await t.request("/readyz")).json()).policySetVersion).toBe(v2);

    const list = await (await t.request("/v1/policy-sets")).json();
    expect(list.active.version).toBe(v2);
    expect(list.versions.find((v: { version: string }) => v.version === v2).active).toBe(true);

    const back = await (await t.request("/v1/policy-sets/rollback", { method: "POST" })).json();
    expect(back).toMatchObject({ version: v1, reason: "rollback" });
    expect(await call(reportBotRead)).toMatchObject({ decision: "deny", policySetVersion: v1 });
  });

  it("a replica that cannot LISTEN (as on PGlite) follows activations by polling", async () => {
    const replica = new ActivePolicySet(t.policies.get());
    const db = t.db.database.db;
    // No databaseUrl: this replica has no listener, so only its poll can switch it. How fast it
    // switches is measured by `npm run bench -- --rollout`, not asserted here (a loaded machine).
    const sync = new PolicySetSync({ db, policies: replica, cache: new PolicySetCache(), drift: new ToolDriftRegistry(db), logger: pino({ level: "silent" }) });
    await sync.start();
    try {
      expect((await t.request(`/v1/policy-sets/${v2}/activate`, { method: "POST" })).status).toBe(200);
      const deadline = Date.now() + 60_000; // catches a replica that never switches
      while (replica.get().version !== v2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(replica.get().version).toBe(v2);
    } finally {
      await sync.stop();
    }
  }, 120_000);

  it("diffs two versions by file, policy and tool", async () => {
    const diff = await (await t.request(`/v1/policy-sets/${v2}/diff?against=${v1}`)).json();
    expect(diff).toMatchObject({ from: v1, to: v2, policies: { added: ["allow-report-reads"], removed: [], changed: [] } });
    expect(diff.files).toEqual([expect.objectContaining({ file: "policies/reports.cedar", status: "added" })]);
    expect(diff.files[0].patch).toContain('+@id("allow-report-reads")');
  });

  it("answers 404 for an unknown version and 400 for a malformed one", async () => {
    expect((await t.request("/v1/policy-sets/sha256:0000000000/activate", { method: "POST" })).status).toBe(404);
    expect((await t.request("/v1/policy-sets/not-a-version")).status).toBe(404);
  });

  it("adds a template and links it, each a new validated version; a bad link is rejected", async () => {
    // "report-bot may use the filesystem server for task REP-7 until Friday": three days from now.
    const friday = Math.floor(Date.now() / 1000) + 3 * 86_400;
    const tpl = await t.request(`/v1/policy-sets/${v1}/templates`, {
      body: {
        id: "task-grant-rep-7",
        text: `permit (principal == ?principal, action in Mcp::Action::"filesystem", resource == ?resource)\nwhen { context.session has task && context.session.task.id == "REP-7" && context.session.requestTime < ${friday} };`,
      },
    });
    expect(tpl.status).toBe(201);
    const notTemplate = await t.request(`/v1/policy-sets/${v1}/templates`, { body: { id: "static", text: "permit (principal, action, resource);" } });
    expect(notTemplate.status).toBe(400);
    expect((await notTemplate.json()).error.message).toContain("exactly one Cedar template");
    const withTemplate = (await tpl.json()).version;

    const bad = await t.request(`/v1/policy-sets/${withTemplate}/links`, {
      body: { templateId: "task-grant-rep-7", id: "grant-alice", principal: { type: "Mcp::User", id: "alice" }, resource: { type: "Mcp::Server", id: "filesystem" } },
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toContain("cannot be a principal");

    const link = await t.request(`/v1/policy-sets/${withTemplate}/links`, {
      body: { templateId: "task-grant-rep-7", id: "grant-report-bot-rep-7", principal: { type: "Mcp::Agent", id: "report-bot" }, resource: { type: "Mcp::Server", id: "filesystem" } },
    });
    expect(link.status).toBe(201);
    const linked = await link.json();
    expect(linked.parent).toBe(withTemplate);
    await t.request(`/v1/policy-sets/${linked.version}/activate`, { method: "POST" });

    const shown = await (await t.request(`/v1/policy-sets/${linked.version}`)).json();
    expect(shown.links).toEqual([expect.objectContaining({ templateId: "task-grant-rep-7", newId: "grant-report-bot-rep-7" })]);
    expect(shown.policies).toContainEqual({ id: "task-grant-rep-7", file: "policies/templates/task-grant-rep-7.cedar", line: 1, template: true });

    const onTask = await call({ ...reportBotRead, task: { id: "REP-7" } });
    expect(onTask).toMatchObject({ decision: "allow", reasons: ["grant-report-bot-rep-7"], policySetVersion: linked.version });
    expect((await call({ ...reportBotRead, task: { id: "REP-8" } })).decision).toBe("deny");

    const unlinked = await t.request(`/v1/policy-sets/${linked.version}/links/grant-report-bot-rep-7`, { method: "DELETE" });
    expect(unlinked.status).toBe(200);
    expect((await unlinked.json()).version).toBe(withTemplate);
  });
});
