/**
 * The exact decision cache (`src/cedar/decision-cache.ts`, used by `PreparedEngine.authorize`):
 * its bounds, its key (what policies read is in it, the rest is not, a record a policy sees whole
 * is kept whole, a value that could fail the engine is kept), that it fails closed (a failing
 * store or a request it cannot key is evaluated), that only requests Verdict built are answered
 * from it, and, through `POST /v1/mcp/tools/call` over the test database, that a decision
 * answered from it is still recorded complete before it is answered, and that task memory
 * (`context.session.history`) is in the key where policies read it. The generated equivalence
 * with the uncached engine is in test/pdp/fast-path.test.ts.
 */
import { LRUCache } from "lru-cache";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { contextPathKey, contextValuesObserved } from "../../src/cedar/action-index.js";
import { DecisionCache, decisionKey, entryBytes } from "../../src/cedar/decision-cache.js";
import { PreparedEngine } from "../../src/cedar/engine.js";
import { splitPolicies } from "../../src/cedar/policies.js";
import type { CedarRequest, EngineDecision } from "../../src/cedar/types.js";
import { TaskHistory } from "../../src/pdp/history.js";
import { engineRequest, evaluateToolCall, type ToolCallQuestion } from "../../src/pdp/tool-call.js";
import { buildPolicySet, loadPolicySet } from "../../src/policy/build.js";
import type { PolicySet } from "../../src/policy/policy-set.js";
import { readSources } from "../../src/policy/sources.js";
import { createTestApp, EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, type TestApp } from "../helpers/app.js";
import { CALLS, writeHistorySet } from "../helpers/history-set.js";
import { decisionRows, refuseDecisionInserts } from "../helpers/refuse-decisions.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";
import { TEST_ADMIN_KEY } from "../helpers/app.js";

const ALLOW: EngineDecision = { decision: "allow", reasons: ["p"], errors: [] };
const big = () => new DecisionCache({ maxEntries: 10_000, maxBytes: 64 * 2 ** 20 });

afterEach(() => vi.restoreAllMocks());

describe("the store", () => {
  it("keeps at most maxEntries answers, least recently used first out", () => {
    const c = new DecisionCache({ maxEntries: 2, maxBytes: 2 ** 20 });
    c.set("a", ALLOW);
    c.set("b", ALLOW);
    expect(c.get("a")).toEqual(ALLOW); // a is now the most recent
    c.set("c", ALLOW);
    expect(c.size).toBe(2);
    expect(c.get("b")).toBeUndefined();
    expect(c.get("a")).toEqual(ALLOW);
    expect(c.get("c")).toEqual(ALLOW);
    expect(c.stats).toEqual({ hits: 3, misses: 1, errors: 0 });
  });

  it("keeps at most maxBytes, counting keys and answers, and never one answer larger than that", () => {
    const key = (i: number) => `${i}`.padEnd(1000, "k");
    const one = entryBytes(key(0), ALLOW);
    expect(one).toBeGreaterThan(2000);
    const c = new DecisionCache({ maxEntries: 1000, maxBytes: 3 * one });
    for (let i = 0; i < 10; i++) c.set(key(i), ALLOW);
    expect(c.size).toBe(3);
    expect(c.bytes).toBeLessThanOrEqual(3 * one);
    expect(c.get(key(9))).toEqual(ALLOW);
    expect(c.get(key(0))).toBeUndefined();
    c.set("x".repeat(4 * one), ALLOW);
    expect(c.get("x".repeat(4 * one))).toBeUndefined();
  });

  it("gives copies: a caller changing an answer changes nothing kept", () => {
    const c = big();
    const d: EngineDecision = { decision: "deny", reasons: ["f"], errors: [{ policyId: "f", message: "m" }] };
    c.set("k", d);
    d.reasons.push("changed after set");
    const got = c.get("k")!;
    got.reasons.push("changed after get");
    got.errors[0]!.message = "changed";
    expect(c.get("k")).toEqual({ decision: "deny", reasons: ["f"], errors: [{ policyId: "f", message: "m" }] });
  });

  it("refuses bounds that are not positive integers", () => {
    expect(() => new DecisionCache({ maxEntries: 0, maxBytes: 1 })).toThrow(RangeError);
    expect(() => new DecisionCache({ maxEntries: 1, maxBytes: 1.5 })).toThrow(RangeError);
  });
});

describe("the key", () => {
  const base: CedarRequest = {
    principal: { type: "Mcp::Agent", id: "a" },
    action: { type: "Mcp::Action", id: "s/t" },
    resource: { type: "Mcp::Server", id: "s" },
    context: {
      input: { path: "/x" },
      session: { requestTime: 100, hourUtc: 10, weekdayUtc: 2, verified: { agent: false, user: false }, task: { id: "T-1", kind: "incident" } },
    },
    entities: [{ uid: { type: "Mcp::Agent", id: "a" }, attrs: {}, parents: [] }],
  };
  const withSession = (s: Record<string, unknown>): CedarRequest => ({ ...base, context: { ...base.context, session: { ...(base.context.session as object), ...s } } });
  const key = (r: CedarRequest, reads: string[], observed: string[][] = []) => decisionKey("e1", r, { reads: new Set(reads), observed: new Set(observed.map(contextPathKey)) });

  it("leaves out the attributes no policy reads, the session's time fields among them, and keeps the ones read", () => {
    const reads = ["input", "path", "session", "task", "kind"];
    const k = key(base, reads);
    expect(key(withSession({ requestTime: 999, hourUtc: 23, weekdayUtc: 7 }), reads)).toBe(k);
    expect(key(withSession({ task: { id: "T-2", kind: "incident" } }), reads)).toBe(k);
    expect(key(withSession({ task: { id: "T-1", kind: "change" } }), reads)).not.toBe(k);
    expect(key({ ...base, context: { ...base.context, input: { path: "/y" } } }, reads)).not.toBe(k);
    // read: in the key
    expect(key(withSession({ hourUtc: 23 }), [...reads, "hourUtc"])).not.toBe(key(base, [...reads, "hourUtc"]));
    // another principal, resource, action, entity or engine: another key
    expect(key({ ...base, principal: { type: "Mcp::Agent", id: "b" } }, reads)).not.toBe(k);
    expect(key({ ...base, entities: [{ uid: { type: "Mcp::Agent", id: "a" }, attrs: {}, parents: [{ type: "Mcp::AgentGroup", id: "g" }] }] }, reads)).not.toBe(k);
    expect(decisionKey("e2", base, { reads: new Set(reads), observed: new Set() })).not.toBe(k);
  });

  it("keeps whole a record that a policy may observe whole", () => {
    const reads = ["session", "task"];
    expect(key(withSession({ task: { id: "T-2", kind: "incident" } }), reads)).toBe(key(base, reads));
    expect(key(withSession({ task: { id: "T-2", kind: "incident" } }), reads, [["session", "task"]])).not.toBe(key(base, reads, [["session", "task"]]));
  });

  it("keeps a value no policy reads when it could make the engine fail by itself", () => {
    const reads = ["session"];
    // an extension value may not parse; a lone surrogate, an unsafe integer may not convert
    for (const bad of [{ __extn: { fn: "ip", arg: "10.0.0.1" } }, "\ud800", 2 ** 60]) {
      expect(key(withSession({ client: bad }), reads)).not.toBe(key(withSession({ client: "ok" }), reads));
    }
    expect(key(withSession({ client: "one" }), reads)).toBe(key(withSession({ client: "two" }), reads));
  });

  it("finds every context value a policy may observe whole", () => {
    const conditions = (text: string) => splitPolicies(text).map((p) => (p.json as { conditions: unknown[] }).conditions).flat();
    const observed = (text: string) => [...contextValuesObserved(conditions(text))].map((k) => k.split("\0").slice(1).join("."));
    expect(observed(`permit (principal, action, resource) when { context.session has task && context.session.task.kind == "x" };`)).toEqual(["session.task.kind"]);
    expect(observed(`permit (principal, action, resource) when { context.session.task == {"id": "T"} };`)).toEqual(["session.task"]);
    expect(observed(`permit (principal, action, resource) when { [context.session.history].contains(context.session.history) };`)).toEqual(["session.history"]);
    expect(observed(`permit (principal, action, resource) when { (if true then context.session else context.session).requestTime > 0 };`)).toEqual(["session"]);
    expect(observed(`permit (principal, action, resource) when { context.session.history.actions.contains("x") };`)).toEqual(["session.history.actions"]);
  });
});

describe("the engine with a cache", () => {
  const ps = loadPolicySet(EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR);
  const q: ToolCallQuestion = { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" } };
  const at = (iso: string) => new Date(iso);
  /** A policy set of the example's sources with `extra` policies, and its engine given `cache`. */
  const variant = (extra: Record<string, string>, cache: DecisionCache | null): PolicySet => {
    const sources = readSources(EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR);
    const built = buildPolicySet({ ...sources, policies: { ...sources.policies, ...extra } });
    built.engine.useDecisionCache(cache);
    return built;
  };
  const answer = (e: { decision: string; reasons: string[]; errors: unknown[] }) => ({ decision: e.decision, reasons: e.reasons, errors: e.errors });

  it("answers a later call from the cache when what the policies read is the same, at another time", () => {
    const cache = big();
    const cached = variant({}, cache);
    const first = evaluateToolCall(cached, q, at("2026-03-04T10:00:00Z"));
    const later = evaluateToolCall(cached, q, at("2026-03-05T23:59:59Z"));
    expect(first.decision).toBe("allow");
    expect(answer(later)).toEqual(answer(first));
    expect(cache.stats).toMatchObject({ hits: 1, misses: 1 });
    // the record keeps the full request: its own time
    expect((later.request.context.session as { hourUtc: number }).hourUtc).toBe(23);
  });

  it("does not, when a policy reads the field that changed", () => {
    const cache = big();
    const night = `@id("no-night-reads")\nforbid (principal, action == Mcp::Action::"filesystem/read_file", resource) when { context.session.hourUtc >= 22 };\n`;
    const cached = variant({ "night.cedar": night }, cache);
    expect(evaluateToolCall(cached, q, at("2026-03-04T10:00:00Z")).decision).toBe("allow");
    expect(answer(evaluateToolCall(cached, q, at("2026-03-04T23:00:00Z")))).toEqual({ decision: "deny", reasons: ["no-night-reads"], errors: [] });
    expect(cache.stats.hits).toBe(0);
    // another engine (another version) on the same cache shares none of the first one's answers
    const other = variant({}, cache);
    expect(evaluateToolCall(other, q, at("2026-03-04T23:00:00Z")).decision).toBe("allow");
    expect(cache.stats.hits).toBe(0);
  });

  it("fails closed: a failing store, or a request it cannot key, is evaluated", () => {
    const cache = big();
    const cached = variant({}, cache);
    const deny: ToolCallQuestion = { agent: "incident-bot", server: "everything", tool: "echo", arguments: { message: "hi" } };
    const want = answer(evaluateToolCall(ps, deny, at("2026-03-04T10:00:00Z")));
    expect(want.decision).toBe("deny");
    evaluateToolCall(cached, deny, at("2026-03-04T10:00:00Z"));
    // the kept deny cannot be read back: the engine decides again, and says the same
    vi.spyOn(LRUCache.prototype, "get").mockImplementation(() => {
      throw new Error("store broken");
    });
    vi.spyOn(LRUCache.prototype, "set").mockImplementation(() => {
      throw new Error("store broken");
    });
    expect(answer(evaluateToolCall(cached, deny, at("2026-03-04T10:00:00Z")))).toEqual(want);
    expect(answer(evaluateToolCall(cached, q, at("2026-03-04T10:00:00Z"))).decision).toBe("allow");
    expect(cache.stats.errors).toBe(4);
    vi.restoreAllMocks();
    // a context JSON cannot write (a BigInt) has no key: counted, and evaluated as without a cache
    const request = evaluateToolCall(ps, q, at("2026-03-04T10:00:00Z")).request;
    const odd: CedarRequest = { ...request, context: { ...request.context, session: { ...(request.context.session as object), history: { calls: 1n } } } };
    const errors = cache.stats.errors;
    expect(cached.engine.authorize(odd, { cacheable: true })).toEqual(ps.engine.authorize(odd));
    expect(cache.stats.errors).toBe(errors + 1);
  });

  it("answers from the cache only requests that ask for it (Verdict's own tool calls)", () => {
    const cache = big();
    const cached = variant({}, cache);
    const valid = engineRequest(evaluateToolCall(ps, q, at("2026-03-04T10:00:00Z")).request);
    expect(cached.engine.authorize(valid, { cacheable: true }).decision).toBe("allow");
    expect(cached.engine.authorize(valid, { cacheable: true }).decision).toBe("allow");
    expect(cache.stats).toMatchObject({ hits: 1, misses: 1 });
    // The same request with an attribute no policy reads of the wrong type, as /v1/authorize
    // could send it: the engine refuses it, and so does the answer, since only a request that
    // asks for the cache is looked up.
    const invalid: CedarRequest = { ...valid, context: { ...valid.context, session: { ...(valid.context.session as object), hourUtc: "ten" } } };
    const refused = cached.engine.authorize(invalid);
    expect(refused).toEqual(ps.engine.authorize(invalid));
    expect(refused.decision).toBe("deny");
    expect(refused.errors.length).toBeGreaterThan(0);
    expect(cache.stats).toMatchObject({ hits: 1, misses: 1 });
    // Why: its key is the valid request's (what differs is read by no policy), so asking for the
    // cache with a request Verdict did not build would give the valid one's answer.
    expect(cached.engine.authorize(invalid, { cacheable: true }).decision).toBe("allow");
    expect(cache.stats.hits).toBe(2);
  });
});

describe("tools/call with the cache", () => {
  const THREE_ECHOES = `@id("three-echoes-per-task")
forbid (principal, action == Mcp::Action::"everything/echo", resource)
when { context.session.history.toolCalls >= 3 };
`;
  const set = writeHistorySet({ "three-echoes.cedar": THREE_ECHOES });
  const ps = loadPolicySet(set.policyDir, set.schemaDir);
  const cache = big();
  ps.engine.useDecisionCache(cache);
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ policySet: ps, history: (db) => new TaskHistory(db) });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  });

  type Answer = { decision: string; decisionId: string; reasons: string[]; errors: unknown[] };
  const call = async (body: Record<string, unknown>): Promise<Answer> => {
    const res = await t.request("/v1/mcp/tools/call", { body, key: t.keys.pep });
    expect(res.status, JSON.stringify(await res.clone().json())).toBe(200);
    return (await res.json()) as Answer;
  };
  const recordOf = async (id: string) => {
    const res = await t.request(`/v1/decisions/${id}`);
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown> & { request: { context: { session: { history?: Record<string, unknown> } } } };
  };

  it("records a decision answered from the cache as completely as one Cedar evaluated", async () => {
    const body = { agent: "incident-bot", user: "alice", ...CALLS.readSecret };
    const hits = cache.stats.hits;
    const a = await call(body);
    const b = await call(body);
    expect(cache.stats.hits).toBe(hits + 1);
    expect(b.decisionId).not.toBe(a.decisionId);
    expect({ ...b, decisionId: a.decisionId }).toEqual(a);
    const [ra, rb] = [await recordOf(a.decisionId), await recordOf(b.decisionId)];
    for (const k of ["decision", "reasons", "errors", "policySetVersion", "agent", "tool", "arguments", "argumentsSha256"]) expect(rb[k], k).toEqual(ra[k]);
    expect(rb.reasons).toEqual(["allow-all"]);
    expect(typeof rb.evaluationMicros).toBe("number");
    expect(rb.evaluationMicros as number).toBeGreaterThanOrEqual(0);
    expect(rb.request).toMatchObject({ context: { input: CALLS.readSecret.arguments } });
  });

  it("answers a hit only once its record is committed: 503 and no decision when the INSERT fails", async () => {
    const body = { agent: "code-assistant", ...CALLS.echo };
    expect((await call(body)).decision).toBe("allow");
    const rows = await decisionRows(t.db.database.db);
    const hits = cache.stats.hits;
    const restore = await refuseDecisionInserts(t.db.database.db);
    let status: number;
    let text: string;
    try {
      const res = await t.request("/v1/mcp/tools/call", { body, key: t.keys.pep });
      status = res.status;
      text = await res.text();
    } finally {
      await restore();
    }
    // the engine's answer came from the cache, and still no decision was given
    expect(cache.stats.hits).toBe(hits + 1);
    expect(status).toBe(503);
    expect(JSON.parse(text)).toMatchObject({ error: { code: "unavailable" } });
    expect(text).not.toContain("allow");
    expect(await decisionRows(t.db.database.db)).toBe(rows);
    // once the table takes rows again, the same call is decided and recorded
    expect((await call(body)).decision).toBe("allow");
    expect(await decisionRows(t.db.database.db)).toBe(rows + 1);
  });

  it("keys task memory on the values policies read: the fourth identical echo of a task is denied, a new task's first is a hit", async () => {
    const body = { agent: "incident-bot", ...CALLS.echo, task: { id: "ECHO-1" } };
    const misses = cache.stats.misses;
    const answers = [await call(body), await call(body), await call(body), await call(body)];
    expect(answers.map((a) => a.decision)).toEqual(["allow", "allow", "allow", "deny"]);
    expect(answers[3]!.reasons).toEqual(["three-echoes-per-task"]);
    // each saw another toolCalls (0 to 3), which the policy reads: four keys, four evaluations
    expect(cache.stats.misses).toBe(misses + 4);
    const seen = await Promise.all(answers.map(async (a) => (await recordOf(a.decisionId)).request.context.session.history!.toolCalls));
    expect(seen).toEqual([0, 1, 2, 3]);
    // another task: toolCalls 0 again, and the task's id is read by no policy: the first call's answer
    const hits = cache.stats.hits;
    const fresh = await call({ ...body, task: { id: "ECHO-2" } });
    expect(fresh.decision).toBe("allow");
    expect(cache.stats.hits).toBe(hits + 1);
    // and its own task's history goes on from there
    const more = [await call({ ...body, task: { id: "ECHO-2" } }), await call({ ...body, task: { id: "ECHO-2" } }), await call({ ...body, task: { id: "ECHO-2" } })];
    expect(more.map((a) => a.decision)).toEqual(["allow", "allow", "deny"]);
  });
});

describe("a server (VERDICT_DECISION_CACHE on by default)", () => {
  let v: TestVerdict;
  beforeAll(async () => {
    v = await startTestVerdict();
  }, 120_000);
  afterAll(async () => {
    await v?.dispose();
  });

  const call = async (body: Record<string, unknown>) => {
    const res = await fetch(`${v.url}/v1/mcp/tools/call`, { method: "POST", headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    return (await res.json()) as { decision: string; reasons: string[]; policySetVersion: string };
  };
  const counters = async () => {
    const text = await (await fetch(`${v.url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } })).text();
    const read = (name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? NaN);
    return { hits: read("verdict_decision_cache_hits_total"), misses: read("verdict_decision_cache_misses_total") };
  };

  it("caches the version in force, and gives a newly activated version the cache without its predecessor's answers", async () => {
    const body = { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" } };
    const first = await call(body);
    expect(first.decision).toBe("allow");
    expect((await call(body)).decision).toBe("allow");
    expect(await counters()).toEqual({ hits: 1, misses: 1 });

    const sources = readSources(EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR);
    const runbooks = `@id("no-runbooks")\nforbid (principal, action == Mcp::Action::"filesystem/read_file", resource) when { context.input.path like "/srv/runbooks/*" };\n`;
    v.server.policies.activate(buildPolicySet({ ...sources, policies: { ...sources.policies, "runbooks.cedar": runbooks } }));
    const denied = await call(body);
    expect(denied).toMatchObject({ decision: "deny", reasons: ["no-runbooks"] });
    expect(denied.policySetVersion).not.toBe(first.policySetVersion);
    expect((await call(body)).decision).toBe("deny");
    expect(await counters()).toEqual({ hits: 2, misses: 2 });
  }, 60_000);
});
