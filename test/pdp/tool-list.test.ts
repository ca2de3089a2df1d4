import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toolDefinitionHash } from "../../src/catalog/tool-schema.js";
import { filterToolList } from "../../src/pdp/tool-list.js";
import { loadFixtures } from "../../src/policy/fixtures.js";
import { createTestApp, EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, examplePolicySet, type TestApp } from "../helpers/app.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

type Tool = Record<string, unknown> & { name: string };
const catalog = (server: string): Tool[] => JSON.parse(readFileSync(join(EXAMPLE_SCHEMA_DIR, "servers", `${server}.json`), "utf8")).tools;

async function list(body: Record<string, unknown>): Promise<{ visible: string[]; hidden: Record<string, string>; body: { tools: Tool[] } }> {
  const res = await t.request("/v1/mcp/tools/list", { body: { server: "filesystem", tools: catalog("filesystem"), ...body } });
  expect(res.status).toBe(200);
  const answer = await res.json();
  expect(answer.policySetVersion).toBe(t.policies.get().version);
  return {
    visible: answer.tools.map((x: Tool) => x.name).sort(),
    hidden: Object.fromEntries(answer.hidden.map((h: { name: string; reason: string }) => [h.name, h.reason])),
    body: answer,
  };
}

const WRITES = ["create_directory", "edit_file", "move_file", "write_file"];
const READS = catalog("filesystem")
  .map((x) => x.name)
  .filter((n) => !WRITES.includes(n))
  .sort();

describe("POST /v1/mcp/tools/list (partial evaluation, arguments unknown)", () => {
  it("shows write tools when the agent acts for a user of the right group on a task", async () => {
    const r = await list({ agent: "code-assistant", user: "bob", task: { id: "T-1" } });
    expect(r.visible).toEqual([...READS, ...WRITES].sort());
    expect(r.hidden).toEqual({});
  });

  it("returns visible tools exactly as given", async () => {
    const r = await list({ agent: "code-assistant", user: "bob", task: { id: "T-1" } });
    expect(r.body.tools).toEqual(catalog("filesystem"));
  });

  it.each([
    ["for no user", { agent: "code-assistant", task: { id: "T-1" } }],
    ["without a task", { agent: "code-assistant", user: "bob" }],
    ["for a user of the wrong group", { agent: "code-assistant", user: "dave", task: { id: "T-1" } }],
  ])("hides write tools %s, and keeps the reads", async (_when, body) => {
    const r = await list(body);
    expect(r.visible).toEqual(READS);
    expect(Object.keys(r.hidden).sort()).toEqual(WRITES);
    expect(r.hidden.write_file).toBe("no policy permits it for any arguments");
  });

  it("follows each permit's own conditions (moves are for coding agents and developers only)", async () => {
    const r = await list({ agent: "incident-bot", user: "alice", task: { id: "INC-1", kind: "incident" } });
    expect(r.visible).toEqual([...READS, "create_directory", "edit_file", "write_file"].sort());
    expect(Object.keys(r.hidden)).toEqual(["move_file"]);
  });

  it("hides everything/get-env for everyone, naming the forbid, and shows the demo tools", async () => {
    const res = await t.request("/v1/mcp/tools/list", { body: { agent: "code-assistant", user: "bob", server: "everything", tools: catalog("everything") } });
    const answer = await res.json();
    const visible = answer.tools.map((x: Tool) => x.name).sort();
    expect(visible).toEqual(["echo", "get-structured-content", "get-sum", "get-tiny-image"]);
    const getEnv = answer.hidden.find((h: { name: string }) => h.name === "get-env");
    expect(getEnv.reason).toBe("denied for any arguments by forbid-get-env");
  });

  it("agrees with tools/call: a hidden tool is denied and a visible one can be allowed", async () => {
    const call = async (body: Record<string, unknown>) => (await (await t.request("/v1/mcp/tools/call", { body })).json()).decision;
    const write = { server: "filesystem", tool: "write_file", arguments: { path: "/tmp/verdict-sandbox/a", content: "x" } };
    expect(await call({ agent: "code-assistant", user: "dave", task: { id: "T-1" }, ...write })).toBe("deny");
    expect(await call({ agent: "code-assistant", user: "bob", task: { id: "T-1" }, ...write })).toBe("allow");
  });

  it("shows the tool of every ALLOW fixture to the same agent, user and task (listing agrees with calling)", () => {
    const ps = examplePolicySet();
    const allows = loadFixtures(EXAMPLE_POLICY_DIR).filter((f) => f.decision === "allow");
    expect(allows.length).toBeGreaterThan(0);
    for (const { name, call } of allows) {
      const tool = ps.tools.get(`${call.server}/${call.tool}`)!.definition;
      const answer = filterToolList(ps, { agent: call.agent, user: call.user, server: call.server, task: call.task, tools: [tool] }, new Date());
      expect({ name, hidden: answer.hidden }).toEqual({ name, hidden: [] });
    }
  });

  it("ignores fields outside the pinned definition (title, outputSchema) when checking drift", async () => {
    const tools = catalog("filesystem").map((x) => ({ ...x, title: "Renamed", outputSchema: undefined }));
    const r = await list({ agent: "code-assistant", user: "bob", task: { id: "T-1" }, tools });
    expect(r.hidden).toEqual({});
  });

  it("hides tools that are not in the pinned catalog", async () => {
    const tools = [...catalog("filesystem"), { name: "delete_file", inputSchema: { type: "object" } }];
    const r = await list({ agent: "code-assistant", user: "bob", task: { id: "T-1" }, tools });
    expect(r.hidden).toEqual({ delete_file: 'not in the pinned catalog of server "filesystem"' });
  });

  it.each([
    ["agent", { agent: "mallory-bot" }, 'agent "mallory-bot" is not a known Mcp::Agent'],
    ["user", { agent: "code-assistant", user: "mallory" }, 'user "mallory" is not a known Mcp::User'],
    ["server", { agent: "code-assistant", server: "github" }, 'server "github" has no pinned tool catalog'],
  ])("hides every tool for an unknown %s, naming it", async (_what, body, reason) => {
    const r = await list(body);
    expect(r.visible).toEqual([]);
    expect(Object.values(r.hidden)).toEqual(catalog("filesystem").map(() => reason));
  });

  it("answers a request without tools, or with a nameless tool, with a 400 naming the field", async () => {
    const a = await t.request("/v1/mcp/tools/list", { body: { agent: "code-assistant", server: "filesystem" } });
    expect(a.status).toBe(400);
    expect((await a.json()).error.message).toContain("tools:");
    const b = await t.request("/v1/mcp/tools/list", { body: { agent: "code-assistant", server: "filesystem", tools: [{ description: "x" }] } });
    expect(b.status).toBe(400);
    expect((await b.json()).error.message).toContain("tools.0.name:");
  });

  it("hides a tool whose definition differs from the pinned one, giving both hashes", async () => {
    const tools = catalog("filesystem");
    const pinned = tools.find((x) => x.name === "read_file")!;
    const drifted = { ...pinned, description: pinned.description + " Also uploads the file somewhere." };
    const r = await list({ agent: "code-assistant", user: "bob", task: { id: "T-1" }, tools: tools.map((x) => (x.name === "read_file" ? drifted : x)) });
    expect(r.visible).not.toContain("read_file");
    expect(r.hidden.read_file).toBe(
      `definition differs from the pinned one (pinned ${toolDefinitionHash(pinned)}, reported ${toolDefinitionHash(drifted)})`,
    );
    expect(toolDefinitionHash(pinned)).not.toBe(toolDefinitionHash(drifted));
    expect(r.visible).toContain("read_text_file");
    // Drift is recorded and stays open until a re-pin (issue 5), so the tool stays hidden even
    // from a gateway that reports the pinned definition: this test runs last in the file.
    const later = await list({ agent: "code-assistant", user: "bob", task: { id: "T-1" } });
    expect(later.hidden.read_file).toContain("definition drift is open");
  });
});
