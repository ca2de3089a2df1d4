import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../helpers/app.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const session = { requestTime: 1_772_445_600, hourUtc: 10, weekdayUtc: 1 };
const agent = (id: string) => ({ type: "Mcp::Agent", id });
const action = (id: string) => ({ type: "Mcp::Action", id });
const server = (id: string) => ({ type: "Mcp::Server", id });
const read = {
  principal: agent("incident-bot"),
  action: action("filesystem/read_file"),
  resource: server("filesystem"),
  context: { input: { path: "/srv/runbooks/db.md" }, session: { ...session, user: { __entity: { type: "Mcp::User", id: "alice" } } } },
};
const getEnv = { principal: agent("code-assistant"), action: action("everything/get-env"), resource: server("everything"), context: { input: {}, session } };
const echo = { principal: agent("code-assistant"), action: action("everything/echo"), resource: server("everything"), context: { input: { message: "hi" }, session } };

const count = async () => (await (await t.request("/v1/decisions?limit=1000")).json()).decisions.length as number;

describe("POST /v1/authorize", () => {
  it("answers a Cedar request and records it with the full request", async () => {
    const res = await t.request("/v1/authorize", { body: read });
    expect(res.status).toBe(200);
    const answer = await res.json();
    expect(answer).toMatchObject({ decision: "allow", reasons: ["allow-file-reads"], errors: [] });
    const rec = await (await t.request(`/v1/decisions/${answer.decisionId}`)).json();
    expect(rec).toMatchObject({ kind: "authorize", agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", decision: "allow" });
    expect(rec.request).toMatchObject({ principal: read.principal, action: read.action, resource: read.resource, context: read.context });
    expect(rec.request.entities.map((e: { uid: { id: string } }) => e.uid.id).sort()).toEqual(["alice", "filesystem", "incident-bot", "sre", "sre-agents"]);
  });

  it("denies, naming the forbid", async () => {
    const answer = await (await t.request("/v1/authorize", { body: getEnv })).json();
    expect(answer).toMatchObject({ decision: "deny", reasons: ["forbid-get-env"] });
  });

  it("denies a request that does not fit the schema, keeping Cedar's error", async () => {
    const answer = await (await t.request("/v1/authorize", { body: { ...read, context: { input: { path: 7 }, session } } })).json();
    expect(answer.decision).toBe("deny");
    expect(answer.reasons).toEqual(["verdict:evaluation-failed"]);
    expect(answer.errors.length).toBeGreaterThan(0);
    expect(answer.message).toMatch(/^denied: evaluation failed/);
  });

  it("takes entities the request supplies that Verdict does not hold, but not as principal (docs/entities.md)", async () => {
    const temp = { uid: agent("temp-bot"), attrs: {}, parents: [] };
    const answer = await (await t.request("/v1/authorize", { body: { ...echo, entities: [temp] } })).json();
    expect(answer).toMatchObject({ decision: "allow", reasons: ["allow-everything-demo-tools"] });
    const rec = await (await t.request(`/v1/decisions/${answer.decisionId}`)).json();
    expect(rec.request.entities).toContainEqual(temp);
    const asPrincipal = await (await t.request("/v1/authorize", { body: { ...echo, principal: agent("temp-bot"), entities: [temp] } })).json();
    expect(asPrincipal).toMatchObject({ decision: "deny", reasons: ["verdict:unknown-agent"] });
  });

  it("refuses, with a 400, entities that redefine one Verdict holds", async () => {
    const forged = { uid: agent("report-bot"), attrs: {}, parents: [{ type: "Mcp::AgentGroup", id: "coding-agents" }] };
    const res = await t.request("/v1/authorize", { body: { ...echo, principal: agent("report-bot"), entities: [forged] } });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toBe('entity Mcp::Agent::"report-bot" is managed by Verdict and cannot be supplied in a request');
  });

  it("answers a missing principal with a 400 naming it", async () => {
    const res = await t.request("/v1/authorize", { body: { action: read.action, resource: read.resource } });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toContain("principal:");
  });
});

describe("POST /v1/authorize/batch", () => {
  it("answers every request in order, each recorded", async () => {
    const res = await t.request("/v1/authorize/batch", { body: { requests: [read, getEnv, echo, getEnv] } });
    expect(res.status).toBe(200);
    const { results } = await res.json();
    expect(results.map((r: { decision: string }) => r.decision)).toEqual(["allow", "deny", "allow", "deny"]);
    expect(results.map((r: { reasons: string[] }) => r.reasons)).toEqual([["allow-file-reads"], ["forbid-get-env"], ["allow-everything-demo-tools"], ["forbid-get-env"]]);
    expect(new Set(results.map((r: { decisionId: string }) => r.decisionId)).size).toBe(4);
    for (const [i, r] of results.entries()) {
      const rec = await (await t.request(`/v1/decisions/${r.decisionId}`)).json();
      expect(rec.decision).toBe(results[i].decision);
      expect(rec.tool).toBe(["read_file", "get-env", "echo", "get-env"][i]);
    }
  });

  it("refuses the whole batch with a 400 when one request has conflicting entities, recording none", async () => {
    const before = await count();
    const forged = { uid: agent("incident-bot"), attrs: {}, parents: [] };
    const res = await t.request("/v1/authorize/batch", { body: { requests: [read, { ...echo, entities: [forged] }] } });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toContain('Mcp::Agent::"incident-bot"');
    expect(await count()).toBe(before);
  });

  it("answers an empty batch and a malformed member with a 400 naming the field", async () => {
    const empty = await t.request("/v1/authorize/batch", { body: { requests: [] } });
    expect(empty.status).toBe(400);
    expect((await empty.json()).error.message).toContain("requests:");
    const bad = await t.request("/v1/authorize/batch", { body: { requests: [read, { ...read, resource: "filesystem" }] } });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toContain("requests.1.resource:");
  });
});
