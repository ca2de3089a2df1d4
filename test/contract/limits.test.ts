/**
 * Defect 2 (issue 11), the wire's end: every request field that reaches the database has a
 * documented maximum (src/contract/limits.ts, docs/limits.md), and a value beyond it is a 400
 * naming the field and the limit, on every decision endpoint. Values at the maximum, made of
 * characters no compression helps (3 bytes of UTF-8 each), are recorded: the maxima fit the
 * database's btree indexes. And the attack itself: a few oversized ids among 400 concurrent
 * innocent calls fail nobody but themselves. Both drivers.
 */
import { randomInt } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BATCH_MAX, ENTITIES_MAX, ID_MAX, KIND_MAX, PARENTS_MAX, TYPE_MAX } from "../../src/contract/limits.js";
import { createTestApp, TEST_ADMIN_KEY, type TestApp } from "../helpers/app.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

/** `n` random CJK characters: 3 bytes of UTF-8 each, and nothing a compressor can shorten. */
function wide(n: number): string {
  return Array.from({ length: n }, () => String.fromCodePoint(0x4e00 + randomInt(0x5000))).join("");
}

const session = { requestTime: 1_772_445_600, hourUtc: 10, weekdayUtc: 1 };
const toolCall = () => ({
  agent: "incident-bot",
  user: "alice",
  server: "filesystem",
  tool: "read_file",
  arguments: { path: "/srv/runbooks/db.md" },
  task: { id: "INC-1", kind: "incident" },
  client: "limits-test",
});
const toolList = () => ({ agent: "incident-bot", server: "filesystem", task: { id: "INC-1" }, tools: [{ name: "read_file", inputSchema: { type: "object" } }] });
const authorize = () => ({
  principal: { type: "Mcp::Agent", id: "incident-bot" },
  action: { type: "Mcp::Action", id: "filesystem/read_file" },
  resource: { type: "Mcp::Server", id: "filesystem" },
  context: { input: { path: "/srv/runbooks/db.md" }, session: { ...session, user: { __entity: { type: "Mcp::User", id: "alice" } }, task: { id: "INC-1" } } },
  entities: [{ uid: { type: "Mcp::Agent", id: "temp-bot" }, attrs: {}, parents: [{ type: "Mcp::AgentGroup", id: "coding-agents" }] }],
});
const authzenMcp = () => ({
  subject: { type: "agent", id: "incident-bot" },
  action: { name: "tools/call" },
  resource: { type: "tool", id: "read_file", properties: { server: "filesystem", arguments: { path: "/srv/runbooks/db.md" } } },
  context: { user: "alice", task: { id: "INC-1" } },
});
const authzenCedar = () => ({
  subject: { type: "Mcp::Agent", id: "incident-bot" },
  action: { name: "filesystem/read_file" },
  resource: { type: "Mcp::Server", id: "filesystem" },
  context: { input: { path: "/srv/runbooks/db.md" }, session: { ...session, task: { id: "INC-1" } } },
});

/** Sets `path` (dot-separated, numeric segments index arrays) of `body` to `value`. */
function set(body: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const keys = path.split(".");
  let at = body as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
  at[keys.at(-1)!] = value;
  return body;
}

interface Case {
  endpoint: string;
  body: () => Record<string, unknown>;
  field: string;
  max: number;
  /** What the 400's message names, when it is not `<field>: at most <max> characters`. */
  names?: RegExp;
}

const cases: Case[] = [
  ...["agent", "user", "server", "tool", "task.id"].map((field) => ({ endpoint: "/v1/mcp/tools/call", body: toolCall, field, max: ID_MAX })),
  { endpoint: "/v1/mcp/tools/call", body: toolCall, field: "task.kind", max: KIND_MAX },
  { endpoint: "/v1/mcp/tools/call", body: toolCall, field: "client", max: KIND_MAX },
  ...["agent", "server", "task.id", "tools.0.name"].map((field) => ({ endpoint: "/v1/mcp/tools/list", body: toolList, field, max: ID_MAX })),
  ...["principal.id", "action.id", "resource.id", "entities.0.uid.id", "entities.0.parents.0.id", "context.session.user.__entity.id", "context.session.task.id"].map(
    (field) => ({ endpoint: "/v1/authorize", body: authorize, field, max: ID_MAX }),
  ),
  ...["principal.type", "action.type", "resource.type", "entities.0.uid.type", "context.session.user.__entity.type"].map((field) => ({
    endpoint: "/v1/authorize",
    body: authorize,
    field,
    max: TYPE_MAX,
  })),
  { endpoint: "/v1/authorize/batch", body: () => ({ requests: [authorize(), authorize()] }), field: "requests.1.resource.id", max: ID_MAX },
  { endpoint: "/v1/authorize/batch", body: () => ({ requests: [authorize(), authorize()] }), field: "requests.0.context.session.task.id", max: ID_MAX },
  ...["subject.id", "resource.id", "action.name"].map((field) => ({ endpoint: "/access/v1/evaluation", body: authzenCedar, field, max: ID_MAX })),
  ...["subject.type", "resource.type"].map((field) => ({ endpoint: "/access/v1/evaluation", body: authzenCedar, field, max: TYPE_MAX })),
  { endpoint: "/access/v1/evaluation", body: authzenCedar, field: "context.session.task.id", max: ID_MAX },
  { endpoint: "/access/v1/evaluation", body: authzenMcp, field: "context.user", max: ID_MAX, names: /context: user: at most 256 characters/ },
  { endpoint: "/access/v1/evaluation", body: authzenMcp, field: "context.task.id", max: ID_MAX, names: /context: task\.id: at most 256 characters/ },
  {
    endpoint: "/access/v1/evaluation",
    body: authzenMcp,
    field: "resource.properties.server",
    max: ID_MAX,
    names: /resource\.properties: server: at most 256 characters/,
  },
  { endpoint: "/access/v1/evaluations", body: () => ({ evaluations: [authzenCedar(), authzenCedar()] }), field: "evaluations.1.subject.id", max: ID_MAX },
  { endpoint: "/access/v1/evaluations", body: () => ({ ...authzenCedar(), evaluations: [{}] }), field: "resource.id", max: ID_MAX },
];

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe("defect 2: one request fails other callers' decisions (every recorded field is bounded at the wire)", () => {
  it.each(cases.map((c) => [`${c.endpoint} ${c.field} (at most ${c.max})`, c] as const))("%s: one more is a 400 naming the field and the limit", async (_, c) => {
    const res = await t.request(c.endpoint, { body: set(c.body(), c.field, "x".repeat(c.max + 1)) });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string; details?: { issues?: Array<{ path: string }> } } };
    expect(body.error.code).toBe("bad_request");
    expect(body.error.message).toMatch(c.names ?? new RegExp(`${c.field.replace(/\./g, "\\.")}: at most ${c.max} characters`));
  });

  it("refuses control characters and lone surrogates in ids", async () => {
    for (const bad of ["incident\u0001bot", "incident\u007fbot"]) {
      const res = await t.request("/v1/authorize", { body: set(authorize(), "principal.id", bad) });
      expect(res.status).toBe(400);
      expect((await res.json()).error.message).toMatch(/principal\.id: no control characters or lone surrogates/);
    }
  });

  it("bounds the counts: batch size, entities, parents, AuthZEN evaluations", async () => {
    const counts: Array<[string, Record<string, unknown>, RegExp]> = [
      ["/v1/authorize/batch", { requests: Array.from({ length: BATCH_MAX + 1 }, authorize) }, /requests: .*100/],
      ["/v1/authorize", { ...authorize(), entities: Array.from({ length: ENTITIES_MAX + 1 }, (_, i) => ({ uid: { type: "Mcp::Agent", id: `e${i}` } })) }, /entities: .*1000/],
      [
        "/v1/authorize",
        set(authorize(), "entities.0.parents", Array.from({ length: PARENTS_MAX + 1 }, (_, i) => ({ type: "Mcp::AgentGroup", id: `g${i}` }))),
        /entities\.0\.parents: .*100/,
      ],
      ["/access/v1/evaluations", { evaluations: Array.from({ length: BATCH_MAX + 1 }, authzenCedar) }, /evaluations: .*100/],
    ];
    for (const [endpoint, body, names] of counts) {
      const res = await t.request(endpoint, { body });
      expect(res.status, endpoint).toBe(400);
      expect((await res.json()).error.message).toMatch(names);
    }
  });

  it("records values at every maximum, in characters no compression shortens (the maxima fit the indexes)", async () => {
    const call = { ...toolCall(), agent: wide(ID_MAX), user: wide(ID_MAX), server: wide(ID_MAX), tool: wide(ID_MAX), task: { id: wide(ID_MAX), kind: wide(KIND_MAX) }, client: wide(KIND_MAX) };
    // the widest index entry: /v1/authorize records a resource of another type as `<type>::"<id>"`
    const widest = {
      ...authorize(),
      principal: { type: wide(TYPE_MAX), id: wide(ID_MAX) },
      action: { type: wide(TYPE_MAX), id: wide(ID_MAX) },
      resource: { type: wide(TYPE_MAX), id: '"'.repeat(ID_MAX) },
      context: { session: { ...session, user: { __entity: { type: "Mcp::User", id: wide(ID_MAX) } }, task: { id: wide(ID_MAX), kind: wide(KIND_MAX) } } },
      entities: [],
    };
    const wideResource = { ...widest, resource: { type: wide(TYPE_MAX), id: wide(ID_MAX) } };
    const evaluation = { subject: { type: wide(TYPE_MAX), id: wide(ID_MAX) }, action: { name: wide(ID_MAX) }, resource: { type: wide(TYPE_MAX), id: wide(ID_MAX) } };
    for (const [endpoint, body] of [
      ["/v1/mcp/tools/call", call],
      ["/v1/authorize", widest],
      ["/v1/authorize", wideResource],
      ["/v1/authorize/batch", { requests: [widest, wideResource] }],
      ["/access/v1/evaluation", { ...evaluation, options: { verdict_context: true } }],
    ] as const) {
      const res = await t.request(endpoint, { body });
      expect(res.status, endpoint).toBe(200);
      const answer = await res.json();
      const ids: string[] = answer.results?.map((r: { decisionId: string }) => r.decisionId) ?? [answer.decisionId ?? answer.context?.decision_id];
      for (const id of ids) {
        const rec = await t.request(`/v1/decisions/${id}`);
        expect(rec.status, endpoint).toBe(200);
        expect((await rec.json()).decision).toBe("deny"); // unknown everything: recorded, and denied
      }
    }
    const stored = await (await t.request(`/v1/decisions?limit=1`)).json();
    expect(stored.decisions[0].server.length).toBeGreaterThan(TYPE_MAX + ID_MAX);
  });
});

describe("defect 2: one request fails other callers' decisions (oversized ids among concurrent innocent calls)", () => {
  let v: TestVerdict;
  beforeAll(async () => {
    v = await startTestVerdict();
  });
  afterAll(async () => {
    await v?.dispose();
  });

  it("fails none of 400 concurrent innocent calls, and answers each oversized one 400 naming its field", async () => {
    const headers = { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_KEY}` };
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${v.url}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { decision?: unknown; decisionId?: string; error?: { code: string; message: string } } };
    };
    const oversized = [
      () => post("/v1/authorize", set(authorize(), "resource.id", wide(3_000))),
      () => post("/v1/authorize/batch", { requests: [authorize(), set(authorize(), "resource.id", wide(3_000))] }),
      () => post("/v1/mcp/tools/call", { ...toolCall(), tool: wide(3_000) }),
      () => post("/access/v1/evaluation", set(authzenCedar(), "subject.id", wide(3_000))),
      () => post("/v1/mcp/tools/call", { ...toolCall(), task: { id: wide(3_000) } }),
    ];
    const N = 400;
    const stream = v.server.log.streamId;
    const jobs: Array<Promise<{ innocent: boolean; status: number; body: { decision?: unknown; decisionId?: string; error?: { code: string; message: string } } }>> = [];
    for (let i = 0; i < N; i++) {
      jobs.push(post("/v1/authorize", { ...authorize(), entities: [] }).then((a) => ({ innocent: true, ...a })));
      if (i % 40 === 20) jobs.push(oversized[(i / 40) % oversized.length | 0]!().then((a) => ({ innocent: false, ...a })));
    }
    const answers = await Promise.all(jobs);
    const innocent = answers.filter((a) => a.innocent);
    const failed = innocent.filter((a) => a.status !== 200 || a.body.decision !== "allow");
    const bad = answers.filter((a) => !a.innocent);
    console.log(`innocent calls failed by ${bad.length} oversized ids: ${failed.length} of ${innocent.length}`);
    expect(innocent.length).toBe(N);
    expect(failed).toEqual([]);
    expect(bad.length).toBe(10);
    for (const a of bad) {
      expect(a.status).toBe(400);
      expect(a.body.error?.code).toBe("bad_request");
      expect(a.body.error?.message).toMatch(/(resource\.id|tool|subject\.id|task\.id): at most (256|128) characters/);
    }
    // no new stream: nothing failed in the writer
    expect(v.server.log.streamId).toBe(stream);
    expect(v.server.log.stats.failed).toBe(0);
  }, 120_000);
});
