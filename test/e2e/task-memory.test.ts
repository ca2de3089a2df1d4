/**
 * Task memory across replicas: two Verdict processes (`node src/index.ts`, each its own pool and
 * decision-log writer) on one real Postgres database, with the example policies of
 * docs/task-memory.md. What one replica committed, the other's next decision sees; another task
 * and no task are unaffected; the hourly agent cap counts the calls of both; a caller-supplied
 * history changes nothing; a replica reads no history for a call no policy reads it for; a task
 * ended through one replica is denied by both within 1 s; the record holds what a decision saw,
 * and replay over the same database uses it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/client.js";
import { loadPolicySet } from "../../src/policy/build.js";
import { replay } from "../../src/policy-versions/replay.js";
import { ROOT, TEST_ADMIN_KEY } from "../helpers/app.js";
import { createPostgresDatabase, LOCAL_POSTGRES } from "../helpers/db.js";
import { CALLS, writeHistorySet } from "../helpers/history-set.js";

/** The cap: the fourth delete in an hour by one agent is denied (any task, either replica). */
const THREE_DELETES = `@id("at-most-3-entity-deletes-an-hour")
forbid (principal, action == Mcp::Action::"memory/delete_entities", resource)
when { context.session.history.agentToolCallsLastHour >= 3 };
`;
const set = writeHistorySet({ "three-deletes.cedar": THREE_DELETES });
const DELETE_ENTITIES = { server: "memory", tool: "delete_entities", arguments: { entityNames: ["old"] } };
const replicas: Array<{ url: string; child: ChildProcess; output: () => string }> = [];
let dropDb: (() => Promise<void>) | undefined;
let dbUrl = "";

/** Starts `node src/index.ts` on the database and resolves with its URL once it listens. */
async function startReplica(name: string): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const env = {
    ...process.env,
    PORT: "0",
    DATABASE_URL: dbUrl,
    VERDICT_ADMIN_KEY: TEST_ADMIN_KEY,
    VERDICT_POLICY_DIR: set.policyDir,
    VERDICT_SCHEMA_DIR: set.schemaDir,
    VERDICT_LOG_LEVEL: "info",
    VERDICT_ACCESS_LOG: "off",
  } as Record<string, string>;
  delete env.VERDICT_WORKERS;
  const child = spawn(process.execPath, ["--import", "tsx", "src/index.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica ${name} did not start:\n${output}`)), 120_000);
    const check = () => {
      const m = /"url":"(http:\/\/[^"]+)"[^\n]*verdict listening/.exec(output);
      if (!m) return;
      clearTimeout(timer);
      resolve(m[1]!);
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    child.once("exit", () => {
      clearTimeout(timer);
      reject(new Error(`replica ${name} exited:\n${output}`));
    });
  });
  return { url, child, output: () => output };
}

beforeAll(async () => {
  const db = await createPostgresDatabase(LOCAL_POSTGRES);
  dropDb = db.drop;
  dbUrl = db.url;
  // one after the other: both would migrate (serialised by an advisory lock) anyway
  replicas.push(await startReplica("A"));
  replicas.push(await startReplica("B"));
}, 240_000);

afterAll(async () => {
  for (const r of replicas) {
    if (r.child.exitCode !== null) continue;
    const exited = new Promise((resolve) => r.child.once("exit", resolve));
    r.child.kill("SIGTERM");
    await exited;
  }
  await dropDb?.();
}, 60_000);

type Answer = { decision: string; decisionId: string; reasons: string[] };

async function call(replica: number, body: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(`${replicas[replica]!.url}/v1/mcp/tools/call`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_KEY}` },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Answer;
  expect(res.status, JSON.stringify(json)).toBe(200);
  return json;
}

async function historyOf(replica: number, id: string): Promise<Record<string, unknown> | undefined> {
  const res = await fetch(`${replicas[replica]!.url}/v1/decisions/${id}`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { request: { context: { session: { history?: Record<string, unknown> } } } }).request.context.session.history;
}

async function historyReads(replica: number): Promise<number> {
  const text = await (await fetch(`${replicas[replica]!.url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } })).text();
  return Number(/^verdict_history_reads_total (\d+)/m.exec(text)![1]);
}

describe("two replicas on one Postgres", () => {
  it("a secret read through one makes an egress in the same task denied by the other; another task and no task are unaffected", async () => {
    const who = { agent: "incident-bot", user: "alice" };
    expect((await call(0, { ...who, ...CALLS.readSecret, task: { id: "INC-9" } })).decision).toBe("allow");
    const denied = await call(1, { ...who, ...CALLS.egress, task: { id: "INC-9" } });
    expect(denied).toMatchObject({ decision: "deny", reasons: ["no-egress-after-secrets"] });
    expect(await historyOf(1, denied.decisionId)).toMatchObject({ calls: 1, toolCalls: 0, actions: expect.arrayContaining(["filesystem/read_file", "reads-secrets"]) });
    expect((await call(1, { ...who, ...CALLS.egress, task: { id: "INC-10" } })).decision).toBe("allow");
    expect((await call(0, { ...who, ...CALLS.egress })).decision).toBe("allow");
    // and the other way round
    expect((await call(1, { ...who, ...CALLS.readSecret, task: { id: "INC-11" } })).decision).toBe("allow");
    expect((await call(0, { ...who, ...CALLS.egress, task: { id: "INC-11" } })).decision).toBe("deny");
  }, 60_000);

  it("a caller-supplied history cannot change the answer", async () => {
    const who = { agent: "code-assistant" };
    await call(0, { ...who, ...CALLS.readSecret, task: { id: "T-forge" } });
    const blank = { calls: 0, toolCalls: 0, actions: [], agentToolCallsLastHour: 0, userToolCallsLastHour: 0 };
    const res = await call(1, { ...who, ...CALLS.egress, task: { id: "T-forge", history: blank }, history: blank });
    expect(res).toMatchObject({ decision: "deny", reasons: ["no-egress-after-secrets"] });
    expect(((await historyOf(1, res.decisionId))!.actions as string[])).toContain("reads-secrets");
  }, 60_000);

  it("the hourly agent cap counts the deletes of both replicas; another agent may still delete", async () => {
    for (let i = 0; i < 20; i++) expect((await call(i % 2, { agent: "incident-bot", ...CALLS.deleteRow, task: { id: `D-${i % 3}` } })).decision, `delete ${i + 1}`).toBe("allow");
    expect(await call(0, { agent: "incident-bot", ...CALLS.deleteRow })).toMatchObject({ decision: "deny", reasons: ["at-most-20-deletes-an-hour"] });
    expect(await call(1, { agent: "incident-bot", ...CALLS.deleteRow, task: { id: "D-new" } })).toMatchObject({ decision: "deny", reasons: ["at-most-20-deletes-an-hour"] });
    const other = await call(1, { agent: "code-assistant", ...CALLS.deleteRow });
    expect(other.decision).toBe("allow");
    expect(await historyOf(0, other.decisionId)).toMatchObject({ agentToolCallsLastHour: 0 });
  }, 120_000);

  it("the fourth delete in an hour by one agent is denied, on either replica; another agent may still delete", async () => {
    for (let i = 0; i < 3; i++) expect((await call(i % 2, { agent: "code-assistant", ...DELETE_ENTITIES, task: { id: `E-${i}` } })).decision, `delete ${i + 1}`).toBe("allow");
    const fourth = await call(1, { agent: "code-assistant", ...DELETE_ENTITIES });
    expect(fourth).toMatchObject({ decision: "deny", reasons: ["at-most-3-entity-deletes-an-hour"] });
    expect(await historyOf(1, fourth.decisionId)).toMatchObject({ agentToolCallsLastHour: 3 });
    expect((await call(0, { agent: "code-assistant", ...DELETE_ENTITIES, task: { id: "E-9" } })).decision).toBe("deny");
    expect((await call(0, { agent: "incident-bot", ...DELETE_ENTITIES })).decision).toBe("allow");
  }, 60_000);

  it("no history is read for a call no applicable policy reads it for, and none is recorded", async () => {
    const before = [await historyReads(0), await historyReads(1)];
    const a = await call(0, { agent: "incident-bot", ...CALLS.readSecret, task: { id: "CHEAP" } });
    const b = await call(1, { agent: "incident-bot", ...CALLS.echo, task: { id: "CHEAP" } });
    expect([await historyReads(0), await historyReads(1)]).toEqual(before);
    expect(await historyOf(0, a.decisionId)).toBeUndefined();
    expect(await historyOf(0, b.decisionId)).toBeUndefined();
    // one statement on the replica that decides a call whose policies read it
    await call(1, { agent: "incident-bot", ...CALLS.egress, task: { id: "CHEAP" } });
    expect([await historyReads(0), await historyReads(1)]).toEqual([before[0], before[1]! + 1]);
  }, 60_000);

  it("an ended task is denied on both replicas within 1 s of its end; another task is unaffected", async () => {
    const who = { agent: "code-assistant", ...CALLS.echo };
    // both replicas have just looked the task up and found it open (the worst case for their caches)
    expect((await call(0, { ...who, task: { id: "END-X" } })).decision).toBe("allow");
    expect((await call(1, { ...who, task: { id: "END-X" } })).decision).toBe("allow");
    const res = await fetch(`${replicas[0]!.url}/v1/tasks/END-X/end`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_KEY}` },
      body: JSON.stringify({ reason: "done" }),
    });
    expect(res.status).toBe(200);
    const endedAt = performance.now();
    // the replica that ended it denies at once
    expect(await call(0, { ...who, task: { id: "END-X" } })).toMatchObject({ decision: "deny", reasons: ["verdict:task-ended"] });
    // the other within the bound: ask until it denies, then it keeps denying
    let firstDenyMs = -1;
    while (firstDenyMs < 0) {
      const answer = await call(1, { ...who, task: { id: "END-X" } });
      const elapsed = performance.now() - endedAt;
      if (answer.decision === "deny") {
        expect(answer.reasons).toEqual(["verdict:task-ended"]);
        firstDenyMs = elapsed;
      } else {
        expect(elapsed, "replica B allowed a call of the ended task more than 1 s after its end").toBeLessThan(1_000);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    expect(firstDenyMs).toBeLessThan(1_000);
    for (const replica of [0, 1]) expect((await call(replica, { ...who, task: { id: "END-X" } })).reasons).toEqual(["verdict:task-ended"]);
    expect((await call(1, { ...who, task: { id: "END-Y" } })).decision).toBe("allow");
    // the auditor's view, from either replica, says it ended and lists the end among its records
    const view = (await (await fetch(`${replicas[1]!.url}/v1/tasks/END-X`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } })).json()) as {
      status: string;
      records: Array<{ kind: string }>;
    };
    expect(view.status).toBe("ended");
    expect(view.records.map((r) => r.kind)).toContain("task/end");
  }, 60_000);

  it("replay over the database uses the recorded history: the same set flips nothing", async () => {
    let database: Database | undefined;
    try {
      database = await openDatabase({ url: dbUrl, dataDir: "unused" });
      const report = await replay(database.db, loadPolicySet(set.policyDir, set.schemaDir));
      expect(report.replayed).toBeGreaterThan(25);
      expect(report.flips).toEqual({ allowToDeny: 0, denyToAllow: 0 });
    } finally {
      await database?.close();
    }
  }, 60_000);
});
