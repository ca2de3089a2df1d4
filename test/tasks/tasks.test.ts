/**
 * The task lifecycle (issue 13 item 6, src/tasks/): `POST /v1/tasks/{taskId}/end` ends a task, so
 * every later `tools/call` naming it is denied `verdict:task-ended`; the end is a `task/end` record
 * of the hash chain (the chain verifies with it); `GET /v1/tasks/{taskId}` gives an auditor the
 * task's records in order with its chains of actors. In one process over the test database
 * (PGlite, or Postgres with `DATABASE_URL`); the two-replica version is
 * test/e2e/task-memory.test.ts.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rowsOf } from "../../src/decision-log/partitions.js";
import { loadPolicySet } from "../../src/policy/build.js";
import { replay } from "../../src/policy-versions/replay.js";
import { TaskEnds } from "../../src/tasks/ends.js";
import { createTestApp, type TestApp } from "../helpers/app.js";
import { CALLS, writeHistorySet } from "../helpers/history-set.js";

const set = writeHistorySet();
const ps = loadPolicySet(set.policyDir, set.schemaDir);

type Answer = { decision: string; decisionId: string; reasons: string[]; message: string };
type Ended = { task: { id: string }; endedAt: string; recordId: string; endedBy: string | null; alreadyEnded: boolean };
type Record_ = { id: string; kind: string; decision: string; reasons: string[]; task: { id: string } | null; caller: string | null; message: string | null; agent: string; user: string | null };

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ policySet: ps });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

async function call(body: Record<string, unknown>, app: TestApp = t): Promise<Answer> {
  const res = await app.request("/v1/mcp/tools/call", { body, key: app.keys.pep });
  expect(res.status, JSON.stringify(await res.clone().json())).toBe(200);
  return (await res.json()) as Answer;
}

async function end(taskId: string, body?: unknown, key: string = t.keys.pep, app: TestApp = t): Promise<Response> {
  return app.request(`/v1/tasks/${encodeURIComponent(taskId)}/end`, { method: "POST", body, key });
}

describe("POST /v1/tasks/{taskId}/end", () => {
  it("denies every later call of the task with verdict:task-ended; other tasks and calls without a task are unaffected", async () => {
    const task = { id: "END-1", kind: "chore" };
    expect((await call({ agent: "code-assistant", ...CALLS.echo, task })).decision).toBe("allow");

    const res = await end(task.id, { reason: "the agent finished" });
    expect(res.status).toBe(200);
    const ended = (await res.json()) as Ended;
    expect(ended).toMatchObject({ task: { id: "END-1" }, alreadyEnded: false });
    expect(ended.endedBy).toMatch(/^apikey:.+ \(test-pep\)$/);
    expect(await (await t.request("/metrics")).text()).toMatch(/^verdict_tasks_ended_total 1$/m);
    expect(Number.isNaN(Date.parse(ended.endedAt))).toBe(false);

    const denied = await call({ agent: "code-assistant", ...CALLS.echo, task });
    expect(denied).toMatchObject({ decision: "deny", reasons: ["verdict:task-ended"] });
    expect(denied.message).toContain("END-1");
    // whatever the tool and whoever asks: the task is over
    expect((await call({ agent: "incident-bot", user: "alice", ...CALLS.readSecret, task: { id: "END-1" } })).reasons).toEqual(["verdict:task-ended"]);
    expect((await call({ agent: "code-assistant", ...CALLS.echo, task: { id: "END-2" } })).decision).toBe("allow");
    expect((await call({ agent: "code-assistant", ...CALLS.echo })).decision).toBe("allow");
  });

  it("is a task/end record of the hash chain, and the chain verifies with it", async () => {
    const ended = (await (await end("END-REC", { reason: "budget spent" })).json()) as Ended;
    const res = await t.request(`/v1/decisions/${ended.recordId}`);
    expect(res.status).toBe(200);
    const record = (await res.json()) as Record_ & { hash: string; prevHash: string | null; seq: number };
    expect(record).toMatchObject({
      kind: "task/end",
      decision: "deny",
      reasons: ["verdict:task-ended"],
      task: { id: "END-REC" },
      caller: ended.endedBy,
      message: "task ended: budget spent",
      agent: "",
      user: null,
    });
    expect(record.hash).toMatch(/^[0-9a-f]{64}$/);
    // listed by kind, as auditors look for ends
    const listed = (await (await t.request(`/v1/decisions?kind=task/end&task=END-REC`)).json()) as { decisions: Record_[] };
    expect(listed.decisions.map((d) => d.id)).toEqual([ended.recordId]);

    const verify = await t.request("/v1/audit/verify");
    expect(verify.status).toBe(200);
    const report = (await verify.json()) as { ok: boolean; records: number };
    expect(report.ok).toBe(true);
    const counted = rowsOf<{ n: number }>(await t.db.database.db.execute(sql`SELECT count(*)::int AS n FROM decisions`));
    expect(report.records).toBe(counted[0]!.n);

    // the record is covered: un-ending the task in the log (rewriting its record) is seen
    await t.db.database.db.execute(sql`UPDATE decisions SET reasons = ARRAY['tampered'] WHERE id = ${ended.recordId}::uuid`);
    const after = (await (await t.request("/v1/audit/verify")).json()) as { ok: boolean; reports: Array<{ problems?: Array<{ decisionId: string | null }> }> };
    expect(after.ok).toBe(false);
    expect(after.reports.flatMap((r) => r.problems ?? []).map((p) => p.decisionId)).toContain(ended.recordId);
    await t.db.database.db.execute(sql`UPDATE decisions SET reasons = ARRAY['verdict:task-ended'] WHERE id = ${ended.recordId}::uuid`);
    expect(((await (await t.request("/v1/audit/verify")).json()) as { ok: boolean }).ok).toBe(true);
  });

  it("ending an ended task changes nothing and answers the first end", async () => {
    const first = (await (await end("END-TWICE")).json()) as Ended;
    const again = await end("END-TWICE", { reason: "once more" });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ ...first, alreadyEnded: true });
    const records = (await (await t.request(`/v1/decisions?kind=task/end&task=END-TWICE`)).json()) as { decisions: unknown[] };
    expect(records.decisions).toHaveLength(1);
  });

  it("two concurrent ends of one task: one end, both answers name it", async () => {
    const [a, b] = await Promise.all([end("END-RACE"), end("END-RACE")]);
    const ea = (await a.json()) as Ended;
    const eb = (await b.json()) as Ended;
    expect(ea.recordId).toBe(eb.recordId);
    expect([ea.alreadyEnded, eb.alreadyEnded].sort()).toEqual([false, true]);
  });

  it("is for pep and admin keys; auditors, policy admins and no key are refused", async () => {
    expect((await end("END-ROLES", undefined, t.keys.admin)).status).toBe(200);
    for (const key of [t.keys.auditor, t.keys["policy-admin"], t.keys.metrics]) expect((await end("END-ROLES-2", undefined, key)).status).toBe(403);
    expect((await t.request("/v1/tasks/END-ROLES-2/end", { method: "POST", key: null })).status).toBe(401);
    // none of the refused requests ended it
    expect((await call({ agent: "code-assistant", ...CALLS.echo, task: { id: "END-ROLES-2" } })).decision).toBe("allow");
  });

  it("refuses a task id or body off the contract with a 400 that says what is wrong", async () => {
    const long = await end("x".repeat(257));
    expect(long.status).toBe(400);
    expect(((await long.json()) as { error: { message: string } }).error.message).toContain("256");
    const extra = await end("END-BAD", { reason: "r", force: true });
    expect(extra.status).toBe(400);
    const notJson = await end("END-BAD", "{not json");
    expect(notJson.status).toBe(400);
    const longReason = await end("END-BAD", { reason: "r".repeat(1_001) });
    expect(longReason.status).toBe(400);
    expect((await call({ agent: "code-assistant", ...CALLS.echo, task: { id: "END-BAD" } })).decision).toBe("allow");
  });

  it("a replica's 'not ended' answer is kept at most its time to live: another replica's end is seen after it", async () => {
    // Two TaskEnds over one database are two replicas' views (the process test is e2e/task-memory).
    const ttl = 300;
    const a = new TaskEnds(t.db.database.db, t.log, { notEndedTtlMs: ttl });
    const b = new TaskEnds(t.db.database.db, t.log, { notEndedTtlMs: ttl });
    expect(await b.isEnded("END-TTL")).toBe(false);
    const lookups = b.stats.lookups;
    await a.end("END-TTL", { caller: null, requestId: null, policySetVersion: ps.version, now: new Date() });
    expect(await a.isEnded("END-TTL")).toBe(true);
    const endedAt = performance.now();
    // within the time to live, b may still answer from its cache (no lookup) ...
    let seen = await b.isEnded("END-TTL");
    while (!seen) {
      expect(performance.now() - endedAt, "b sees the end within its time to live").toBeLessThan(ttl + 1_000);
      await new Promise((r) => setTimeout(r, 20));
      seen = await b.isEnded("END-TTL");
    }
    expect(b.stats.lookups).toBeGreaterThan(lookups);
    // ... and once it has seen it, it keeps it without asking again
    const after = b.stats.lookups;
    expect(await b.isEnded("END-TTL")).toBe(true);
    expect(b.stats.lookups).toBe(after);
  });

  it("looks many tasks up in one statement: concurrent lookups of 50 tasks, one ended, take at most two statements", async () => {
    const a = new TaskEnds(t.db.database.db, t.log);
    await a.end("BATCH-7", { caller: null, requestId: null, policySetVersion: ps.version, now: new Date() });
    const b = new TaskEnds(t.db.database.db, t.log);
    const ids = Array.from({ length: 50 }, (_, i) => `BATCH-${i}`);
    const answers = await Promise.all(ids.map((id) => b.isEnded(id)));
    expect(ids.filter((_, i) => answers[i])).toEqual(["BATCH-7"]);
    expect(b.stats.lookups).toBeLessThanOrEqual(2);
    // asked again at once: every answer from the replica's memory
    expect(await Promise.all(ids.map((id) => b.isEnded(id)))).toEqual(answers);
    expect(b.stats.lookups).toBeLessThanOrEqual(2);
  });

  it("fails closed: when ended tasks cannot be read, a call naming a task is a 503 and nothing is recorded", async () => {
    const broken = await createTestApp({ policySet: ps });
    try {
      await broken.db.database.db.execute(sql`DROP TABLE ended_tasks`);
      const res = await broken.request("/v1/mcp/tools/call", { body: { agent: "code-assistant", ...CALLS.echo, task: { id: "ANY" } }, key: broken.keys.pep });
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("unavailable");
      expect(body.error.message).toContain("treat this as a deny");
      expect(await (await broken.request("/metrics")).text()).toMatch(/^verdict_task_lookup_failures_total 1$/m);
      // without a task there is nothing to look up
      expect((await call({ agent: "code-assistant", ...CALLS.echo }, broken)).decision).toBe("allow");
      const all = (await (await broken.request("/v1/decisions")).json()) as { decisions: Record_[] };
      expect(all.decisions.filter((d) => d.task?.id === "ANY")).toEqual([]);
      // and an end that cannot be written is a 503: the task is not said to be ended
      expect((await end("ANY", undefined, broken.keys.pep, broken)).status).toBe(503);
    } finally {
      await broken.close();
    }
  });
});

describe("GET /v1/tasks/{taskId}", () => {
  it("gives the task's records oldest first, its chains of actors and its totals, paged", async () => {
    const task = { id: "VIEW-1", kind: "incident" };
    const ids: string[] = [];
    ids.push((await call({ agent: "incident-bot", user: "alice", ...CALLS.readSecret, task })).decisionId);
    ids.push((await call({ agent: "incident-bot", user: "alice", ...CALLS.egress, task })).decisionId); // denied: no egress after secrets
    ids.push((await call({ agent: "code-assistant", ...CALLS.echo, task })).decisionId);
    const ended = (await (await end(task.id)).json()) as Ended;
    ids.push((await call({ agent: "incident-bot", user: "alice", ...CALLS.echo, task })).decisionId); // denied: ended
    ids.splice(3, 0, ended.recordId);

    const res = await t.request(`/v1/tasks/VIEW-1`, { key: t.keys.auditor });
    expect(res.status).toBe(200);
    const view = (await res.json()) as {
      task: { id: string; kind: string | null };
      status: string;
      ended: Omit<Ended, "alreadyEnded"> | null;
      summary: { decisions: number; allowed: number; denied: number; first: string; last: string };
      actors: Array<{ agent: string; user: string | null; delegation: unknown[]; decisions: number; allowed: number; denied: number }>;
      records: Record_[];
      nextCursor: string | null;
    };
    expect(view.task).toEqual({ id: "VIEW-1", kind: "incident" });
    expect(view.status).toBe("ended");
    expect(view.ended).toEqual({ task: { id: "VIEW-1" }, endedAt: ended.endedAt, recordId: ended.recordId, endedBy: ended.endedBy });
    expect(view.records.map((r) => r.id)).toEqual(ids);
    expect(view.records.map((r) => r.kind)).toEqual(["tools/call", "tools/call", "tools/call", "task/end", "tools/call"]);
    expect(view.records[1]).toMatchObject({ decision: "deny", reasons: ["no-egress-after-secrets"] });
    expect(view.summary).toMatchObject({ decisions: 4, allowed: 2, denied: 2 });
    expect(view.actors).toEqual([
      expect.objectContaining({ agent: "incident-bot", user: "alice", delegation: [], decisions: 3, allowed: 1, denied: 2 }),
      expect.objectContaining({ agent: "code-assistant", user: null, delegation: [], decisions: 1, allowed: 1, denied: 0 }),
    ]);
    expect(view.nextCursor).toBeNull();

    // paged: two and two and one, in the same order
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (await t.request(`/v1/tasks/VIEW-1?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { key: t.keys.auditor })).json()) as typeof view;
      expect(page.records.length).toBeLessThanOrEqual(2);
      seen.push(...page.records.map((r) => r.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(ids);
  });

  it("is for auditors and admins; an unknown task is a 404, a bad cursor a 400", async () => {
    await call({ agent: "code-assistant", ...CALLS.echo, task: { id: "VIEW-2" } });
    expect((await t.request("/v1/tasks/VIEW-2", { key: t.keys.pep })).status).toBe(403);
    expect((await t.request("/v1/tasks/VIEW-2", { key: t.keys.admin })).status).toBe(200);
    const open = (await (await t.request("/v1/tasks/VIEW-2", { key: t.keys.auditor })).json()) as { status: string; ended: unknown };
    expect(open).toMatchObject({ status: "open", ended: null });
    expect((await t.request("/v1/tasks/NO-SUCH-TASK", { key: t.keys.auditor })).status).toBe(404);
    expect((await t.request("/v1/tasks/VIEW-2?cursor=nope", { key: t.keys.auditor })).status).toBe(400);
    expect((await t.request("/v1/tasks/VIEW-2?limit=0", { key: t.keys.auditor })).status).toBe(400);
  });
});

describe("replay", () => {
  it("leaves task/end records out and keeps a task-ended deny a deny", async () => {
    const task = { id: "REPLAY-END" };
    await call({ agent: "code-assistant", ...CALLS.echo, task });
    await end(task.id);
    expect((await call({ agent: "code-assistant", ...CALLS.echo, task })).reasons).toEqual(["verdict:task-ended"]);
    const all = (await (await t.request("/v1/decisions?limit=1000")).json()) as { decisions: Record_[] };
    const decisions = all.decisions.filter((d) => d.kind !== "task/end").length;
    const report = await replay(t.db.database.db, ps);
    expect(report.replayed).toBe(decisions);
    expect(report.flips).toEqual({ allowToDeny: 0, denyToAllow: 0 });
  });
});
