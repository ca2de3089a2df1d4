/**
 * Task memory (`context.session.history`, src/pdp/history.ts) in one process, through
 * `POST /v1/mcp/tools/call` over the test database (PGlite, or Postgres with `DATABASE_URL`):
 * the example policies of docs/task-memory.md decide on what the task, the agent and the user
 * were already allowed; a caller cannot change it; it is read only when a policy reads it; the
 * decisions of one task are serialised; a failed read is a 503; the record keeps what the
 * decision saw, and replay uses it. The two-replica version is test/e2e/task-memory.test.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/client.js";
import { EMPTY_HISTORY, historyFrom, KeyedMutex, readsHistory, TaskHistory } from "../../src/pdp/history.js";
import { evaluateToolCall } from "../../src/pdp/tool-call.js";
import { loadPolicySet } from "../../src/policy/build.js";
import { runFixtures, type PolicyFixture } from "../../src/policy/fixtures.js";
import { replay } from "../../src/policy-versions/replay.js";
import { createTestApp, ROOT, type TestApp } from "../helpers/app.js";
import { AT_MOST_20_DELETES, CALLS, HISTORY_GROUPS, NO_EGRESS_AFTER_SECRETS, writeHistorySet } from "../helpers/history-set.js";

const THREE_ECHOES = `@id("three-echoes-per-task")
forbid (principal, action == Mcp::Action::"everything/echo", resource)
when { context.session.history.toolCalls >= 3 };
`;
const set = writeHistorySet({ "three-echoes.cedar": THREE_ECHOES });
const ps = loadPolicySet(set.policyDir, set.schemaDir);
const plain = writeHistorySet({}, false);
const psPlain = loadPolicySet(plain.policyDir, plain.schemaDir);

type Answer = { decision: string; decisionId: string; reasons: string[] };
type Session = { history?: Record<string, unknown> } & Record<string, unknown>;

let clock = new Date();
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ policySet: ps, now: () => clock });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

async function call(body: Record<string, unknown>, app: TestApp = t): Promise<Answer> {
  const res = await app.request("/v1/mcp/tools/call", { body, key: app.keys.pep });
  expect(res.status, JSON.stringify(await res.clone().json())).toBe(200);
  return (await res.json()) as Answer;
}

async function recordedSession(app: TestApp, id: string): Promise<Session> {
  const res = await app.request(`/v1/decisions/${id}`);
  expect(res.status).toBe(200);
  const record = (await res.json()) as { request: { context: { session: Session } } };
  return record.request.context.session;
}

async function historyReads(app: TestApp): Promise<number> {
  const text = await (await app.request("/metrics")).text();
  const m = /^verdict_history_reads_total (\d+)/m.exec(text);
  expect(m, "verdict_history_reads_total is exported").not.toBeNull();
  return Number(m![1]);
}

describe("the example policies", () => {
  it("are in docs/task-memory.md and the README's Cedar model verbatim, with the groups of docs/policy-authoring.md", () => {
    const doc = readFileSync(join(ROOT, "docs", "task-memory.md"), "utf8");
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    for (const text of [NO_EGRESS_AFTER_SECRETS, AT_MOST_20_DELETES]) {
      expect(doc).toContain(text);
      expect(readme).toContain(text);
    }
    expect(readFileSync(join(ROOT, "docs", "policy-authoring.md"), "utf8")).toContain(HISTORY_GROUPS);
    expect(readme).toContain(HISTORY_GROUPS);
  });

  it("validate in strict mode and are read by the fast path only where they apply", () => {
    expect([...ps.policies.keys()]).toEqual(expect.arrayContaining(["no-egress-after-secrets", "at-most-20-deletes-an-hour"]));
    expect(readsHistory(ps, "everything/gzip-file-as-resource")).toBe(true);
    expect(readsHistory(ps, "db/delete_row")).toBe(true);
    expect(readsHistory(ps, "filesystem/read_file")).toBe(false);
    expect(readsHistory(ps, "nowhere/nothing")).toBe(false);
    expect(readsHistory(psPlain, "everything/gzip-file-as-resource")).toBe(false);
  });
});

describe("no-egress-after-secrets", () => {
  it("denies an egress after a secret read in the same task, and only there", async () => {
    const agent = { agent: "incident-bot", user: "alice" };
    expect((await call({ ...agent, ...CALLS.egress, task: { id: "INC-1" } })).decision).toBe("allow");
    expect((await call({ ...agent, ...CALLS.readSecret, task: { id: "INC-1" } })).decision).toBe("allow");
    const denied = await call({ ...agent, ...CALLS.egress, task: { id: "INC-1" } });
    expect(denied).toMatchObject({ decision: "deny", reasons: ["no-egress-after-secrets"] });
    // another task, and no task: unaffected
    expect((await call({ ...agent, ...CALLS.egress, task: { id: "INC-2" } })).decision).toBe("allow");
    expect((await call({ ...agent, ...CALLS.egress })).decision).toBe("allow");

    // the record holds the history the deny saw: the earlier allowed tools and all their groups
    const session = await recordedSession(t, denied.decisionId);
    expect(session.history).toEqual({
      calls: 2,
      toolCalls: 1,
      actions: ["call_tool", "egress", "everything", "everything/gzip-file-as-resource", "filesystem", "filesystem/read_file", "open-world", "read-only", "reads-secrets"],
      // this agent's and this user's allowed egresses in the hour: the first one
      agentToolCallsLastHour: 1,
      userToolCallsLastHour: 1,
    });
  });

  it("counts only allowed calls: a denied egress is not in the task's history", async () => {
    const agent = { agent: "code-assistant" };
    await call({ ...agent, ...CALLS.readSecret, task: { id: "T-deny" } });
    expect((await call({ ...agent, ...CALLS.egress, task: { id: "T-deny" } })).decision).toBe("deny");
    const again = await call({ ...agent, ...CALLS.egress, task: { id: "T-deny" } });
    const h = (await recordedSession(t, again.decisionId)).history!;
    expect([h.calls, h.toolCalls]).toEqual([1, 0]);
  });

  it("a caller-supplied history is dropped: the answer and the record are Verdict's", async () => {
    const agent = { agent: "incident-bot" };
    await call({ ...agent, ...CALLS.readSecret, task: { id: "INC-forged" } });
    const forged = { calls: 0, toolCalls: 0, actions: [], agentToolCallsLastHour: 0, userToolCallsLastHour: 0 };
    const res = await call({ ...agent, ...CALLS.egress, task: { id: "INC-forged", history: forged }, history: forged, session: { history: forged } });
    expect(res).toMatchObject({ decision: "deny", reasons: ["no-egress-after-secrets"] });
    const h = (await recordedSession(t, res.decisionId)).history!;
    expect(h.calls).toBe(1);
    expect(h.actions).toContain("reads-secrets");
  });
});

describe("at-most-20-deletes-an-hour", () => {
  it("denies the 21st delete of an agent in an hour, any task; another agent may still delete; an hour later it may again", async () => {
    const start = clock;
    for (let i = 0; i < 20; i++) {
      clock = new Date(start.getTime() + i * 1000);
      const task = i % 2 ? { task: { id: `DEL-${i}` } } : {};
      expect((await call({ agent: "incident-bot", ...CALLS.deleteRow, ...task })).decision, `delete ${i + 1}`).toBe("allow");
    }
    clock = new Date(start.getTime() + 20_000);
    expect(await call({ agent: "incident-bot", ...CALLS.deleteRow, task: { id: "DEL-new" } })).toMatchObject({ decision: "deny", reasons: ["at-most-20-deletes-an-hour"] });
    expect((await call({ agent: "code-assistant", ...CALLS.deleteRow })).decision).toBe("allow");
    // the first delete leaves the window 60 minutes after it
    clock = new Date(start.getTime() + 60 * 60 * 1000 + 500);
    const later = await call({ agent: "incident-bot", ...CALLS.deleteRow });
    expect(later.decision).toBe("allow");
    expect((await recordedSession(t, later.decisionId)).history!.agentToolCallsLastHour).toBe(19);
    clock = new Date();
  });
});

describe("serialised per task in a replica", () => {
  it("of 8 concurrent echoes in one task, exactly 3 are allowed (each sees the ones committed before it)", async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => call({ agent: "code-assistant", ...CALLS.echo, task: { id: "RACE-1" } })));
    expect(answers.filter((a) => a.decision === "allow")).toHaveLength(3);
    const counts = await Promise.all(answers.map(async (a) => (await recordedSession(t, a.decisionId)).history!.toolCalls as number));
    expect(counts.sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 3, 3, 3, 3]);
  });

  it("a KeyedMutex runs one section per key at a time, in order, and forgets idle keys", async () => {
    const m = new KeyedMutex();
    const order: string[] = [];
    const section = (key: string, name: string, ms: number) =>
      m.run(key, async () => {
        order.push(`${name}+`);
        await new Promise((r) => setTimeout(r, ms));
        order.push(`${name}-`);
      });
    await Promise.all([section("a", "a1", 20), section("a", "a2", 1), section("b", "b1", 5)]);
    expect(order).toEqual(["a1+", "b1+", "b1-", "a1-", "a2+", "a2-"]);
    expect(m.size).toBe(0);
    // a section that throws releases the key
    await expect(m.run("a", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await m.run("a", () => Promise.resolve(7))).toBe(7);
  });
});

describe("cheap when unused", () => {
  it("no history statement and no history in the record when no applicable policy reads it", async () => {
    const before = await historyReads(t);
    const read = await call({ agent: "incident-bot", ...CALLS.readSecret, task: { id: "CHEAP-1" } });
    expect(await historyReads(t)).toBe(before);
    expect((await recordedSession(t, read.decisionId)).history).toBeUndefined();
    // and one statement per decision when one does
    const egress = await call({ agent: "incident-bot", ...CALLS.egress, task: { id: "CHEAP-1" } });
    expect(await historyReads(t)).toBe(before + 1);
    expect((await recordedSession(t, egress.decisionId)).history).toBeDefined();
  });

  it("a set without history policies reads none, and its records hold none", async () => {
    const p = await createTestApp({ policySet: psPlain });
    try {
      await call({ agent: "incident-bot", ...CALLS.readSecret, task: { id: "P-1" } }, p);
      const e = await call({ agent: "incident-bot", ...CALLS.egress, task: { id: "P-1" } }, p);
      expect(e.decision).toBe("allow");
      expect(await historyReads(p)).toBe(0);
      expect((await recordedSession(p, e.decisionId)).history).toBeUndefined();
    } finally {
      await p.close();
    }
  });
});

describe("fail closed", () => {
  it("a history that cannot be read is a 503, never an allow, and no record", async () => {
    const broken = new TaskHistory({ execute: () => Promise.reject(new Error("connection terminated")) } as unknown as Db);
    const b = await createTestApp({ policySet: ps, history: broken });
    try {
      const res = await b.request("/v1/mcp/tools/call", { body: { agent: "incident-bot", ...CALLS.egress }, key: b.keys.pep });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unavailable");
      expect(broken.stats).toEqual({ reads: 1, failures: 1, stale: 0 });
      expect(b.log.stats.recorded).toBe(0);
      // a call no policy reads history for does not need it
      expect((await call({ agent: "incident-bot", ...CALLS.readSecret }, b)).decision).toBe("allow");
    } finally {
      await b.close();
    }
  });

  it("an allow committed later than maxAgeMs after its history read is a 503; a deny is still answered", async () => {
    let made: TaskHistory | undefined;
    const slow = await createTestApp({ policySet: ps, history: (db) => (made = new TaskHistory(db, { maxAgeMs: 100 })) });
    try {
      const append = slow.log.append.bind(slow.log);
      slow.log.append = async (r) => {
        await new Promise((resolve) => setTimeout(resolve, 250));
        return append(r);
      };
      const res = await slow.request("/v1/mcp/tools/call", { body: { agent: "incident-bot", ...CALLS.egress, task: { id: "SLOW" } }, key: slow.keys.pep });
      expect(res.status).toBe(503);
      expect(made!.stats.stale).toBe(1);
      // the record stays (an allow nobody was told of; later histories count it: stricter, never laxer)
      expect(slow.log.stats.recorded).toBe(1);
      await call({ agent: "incident-bot", ...CALLS.readSecret, task: { id: "SLOW" } }, slow);
      expect((await call({ agent: "incident-bot", ...CALLS.egress, task: { id: "SLOW" } }, slow)).decision).toBe("deny");
      // a call no policy reads history for has no such bound
      expect((await call({ agent: "incident-bot", ...CALLS.readSecret }, slow)).decision).toBe("allow");
    } finally {
      await slow.close();
    }
  });

  it("a path with no history to give denies a call whose policies read it (verdict:history-unavailable)", () => {
    const e = evaluateToolCall(ps, { agent: "incident-bot", ...CALLS.egress, arguments: { ...CALLS.egress.arguments } }, new Date());
    expect(e).toMatchObject({ decision: "deny", reasons: ["verdict:history-unavailable"] });
    const ok = evaluateToolCall(ps, { agent: "incident-bot", ...CALLS.egress, arguments: { ...CALLS.egress.arguments } }, new Date(), undefined, undefined, EMPTY_HISTORY);
    expect(ok.decision).toBe("allow");
  });
});

describe("tools/list", () => {
  it("shows a tool whose history rule some history would pass (history unknown, like the arguments)", async () => {
    const everything = JSON.parse(readFileSync(join(set.schemaDir, "servers", "everything.json"), "utf8")) as { tools: Array<{ name: string }> };
    const res = await t.request("/v1/mcp/tools/list", { body: { agent: "incident-bot", server: "everything", task: { id: "INC-1" }, tools: everything.tools }, key: t.keys.pep });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { tools: Array<{ name: string }>; hidden: Array<{ name: string; reason: string }> };
    expect(body.tools.map((x) => x.name)).toContain("gzip-file-as-resource");
  });
});

describe("fixtures", () => {
  it("give a call the history they state (fields left out: a first call's)", () => {
    const fixture = (history: PolicyFixture["history"], decision: "allow" | "deny"): PolicyFixture =>
      ({ name: "f", file: "f.json", description: "d", decision, call: { agent: "incident-bot", ...CALLS.egress, arguments: { ...CALLS.egress.arguments } }, ...(history ? { history } : {}) }) as PolicyFixture;
    const [a, b] = runFixtures(ps, [fixture({ actions: ["reads-secrets"] }, "deny"), fixture(undefined, "allow")]);
    expect([a!.passed, a!.actual.reasons, b!.passed]).toEqual([true, ["no-egress-after-secrets"], true]);
    // and the README's second example: the 21st delete of an agent in an hour
    const del = (n: number, decision: "allow" | "deny"): PolicyFixture =>
      ({ name: `d${n}`, file: `d${n}.json`, description: "d", decision, call: { agent: "incident-bot", ...CALLS.deleteRow, arguments: { ...CALLS.deleteRow.arguments } }, history: { agentToolCallsLastHour: n } }) as PolicyFixture;
    const [c, d] = runFixtures(ps, [del(20, "deny"), del(19, "allow")]);
    expect([c!.passed, c!.actual.reasons, d!.passed]).toEqual([true, ["at-most-20-deletes-an-hour"], true]);
  });
});

describe("groups in history", () => {
  it("a tool the deciding set no longer pins still names its server and call_tool", () => {
    expect(historyFrom(ps, { task: [["gone", "tool", 2], ["filesystem", "read_file", 1]], agentToolCallsLastHour: 4, userToolCallsLastHour: 0 }, "filesystem", "read_file")).toEqual({
      calls: 3,
      toolCalls: 1,
      actions: ["call_tool", "filesystem", "filesystem/read_file", "gone", "gone/tool", "read-only", "reads-secrets"],
      agentToolCallsLastHour: 4,
      userToolCallsLastHour: 0,
    });
  });
});

describe("replay", () => {
  it("uses the recorded history: the same set replays every decision unchanged, and a candidate without the rule flips its denies", async () => {
    const same = await replay(t.db.database.db, ps);
    expect(same.replayed).toBeGreaterThan(20);
    expect(same.flips).toEqual({ allowToDeny: 0, denyToAllow: 0 });
    // without the egress rule, exactly the egress denies flip
    const sansEgress = loadPolicySet(writeHistorySet({ "three-echoes.cedar": THREE_ECHOES }, false).policyDir, set.schemaDir);
    const candidate = await replay(t.db.database.db, sansEgress);
    expect(candidate.flips.allowToDeny).toBe(0);
    expect(candidate.byTool.find((x) => x.tool === "gzip-file-as-resource")?.denyToAllow).toBeGreaterThanOrEqual(3);
  });
});
