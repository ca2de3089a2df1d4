/**
 * Defect 2 (issue 11), the writer's end: a row Postgres refuses for its own data (an index entry
 * too large, a NUL or a lone surrogate in `jsonb`, a duplicate key) must fail only its own
 * caller. The group commit writes many callers' decisions in one INSERT, which Postgres rejects
 * as a whole; the writer must then commit every other row, in one unbroken chain of the same
 * stream, and answer them. Proven here below the wire (records handed to the writer directly,
 * values the wire's bounds would have refused) and through real HTTP with a value the wire lets
 * through and the database does not (a NUL in a tool's arguments). Both drivers.
 */
import { randomInt } from "node:crypto";
import { sql } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyChains } from "../../src/audit/verify.js";
import { DecisionLog, RecordError } from "../../src/decision-log/writer.js";
import { recordHash, type DecisionRecord, type UnchainedRecord } from "../../src/decision-log/record.js";
import { TEST_ADMIN_KEY } from "../helpers/app.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { refuseDecisionInserts } from "../helpers/refuse-decisions.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

/** `n` random CJK characters (3 bytes of UTF-8 each): text no compression brings under a btree's limit. */
function incompressible(n: number): string {
  return Array.from({ length: n }, () => String.fromCodePoint(0x4e00 + randomInt(0x5000))).join("");
}

function record(i: number, over: Partial<UnchainedRecord> = {}): UnchainedRecord {
  return {
    id: uuidv7(),
    time: new Date().toISOString(),
    kind: "tools/call",
    agent: `agent-${i % 5}`,
    user: `user-${i}`,
    delegation: [],
    server: "filesystem",
    tool: "read_file",
    action: 'Mcp::Action::"filesystem/read_file"',
    arguments: { path: `/srv/runbooks/${i}.md` },
    argumentsSha256: "0".repeat(64),
    task: { id: `T-${i}` },
    decision: i % 2 ? "allow" : "deny",
    reasons: ["allow-runbook-reads"],
    errors: [],
    obligations: [],
    message: null,
    policySetVersion: "sha256:" + "a".repeat(64),
    caller: null,
    requestId: `req-${i}`,
    evaluationMicros: i,
    request: { principal: { type: "Mcp::Agent", id: `agent-${i % 5}` } },
    identity: null,
    credentialJti: null,
    ...over,
  } as UnchainedRecord;
}

async function storedChain(t: TestDatabase, stream: string): Promise<Array<{ id: string; seq: number; prevHash: string | null; hash: string }>> {
  const res = (await t.database.db.execute(
    sql`SELECT id::text AS id, seq, prev_hash AS "prevHash", hash FROM decisions WHERE stream = ${stream} ORDER BY seq`,
  )) as unknown as { rows: Array<{ id: string; seq: number | string; prevHash: string | null; hash: string }> };
  return res.rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

describe("defect 2: one request fails other callers' decisions (the writer isolates a refused row)", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it("commits every valid row of a batch the database refuses, fails only the refused rows, in one unbroken chain", async () => {
    const log = new DecisionLog(t.database);
    // The first append is written alone (the writer starts at once); the rest form one batch.
    const first = await log.append(record(0));
    const stream = log.streamId;

    const bad: Array<{ at: number; why: string; over: Partial<UnchainedRecord> }> = [
      { at: 17, why: "server too large for its btree index (SQLSTATE 54000)", over: { server: incompressible(3_000) } },
      { at: 60, why: "NUL in jsonb arguments (SQLSTATE 22P05)", over: { arguments: { path: "/srv/a\u0000b" } } },
      { at: 150, why: "duplicate primary key (SQLSTATE 23505)", over: { id: first.id, time: first.time } },
      { at: 399, why: "task id too large for its index", over: { task: { id: incompressible(4_000) } } },
    ];
    const N = 400;
    const sent = Array.from({ length: N }, (_, i) => record(i + 1, bad.find((b) => b.at === i)?.over ?? {}));
    const settled = await Promise.allSettled(sent.map((r) => log.append(r)));
    await log.close();

    const badAt = new Set(bad.map((b) => b.at));
    const innocentFailed = settled.filter((s, i) => !badAt.has(i) && s.status === "rejected");
    console.log(`innocent records failed by ${bad.length} refused rows in their batch: ${innocentFailed.length} of ${N - bad.length}`);
    expect(innocentFailed).toEqual([]);
    for (const b of bad) {
      const s = settled[b.at]!;
      expect(s.status, b.why).toBe("rejected");
      const err = (s as PromiseRejectedResult).reason;
      expect(err, b.why).toBeInstanceOf(RecordError);
      expect((err as RecordError).reason, b.why).toBe("refused");
      // the caller's error names no SQL and none of the record's values
      expect((err as Error).message).not.toMatch(/INSERT|SELECT|params|jsonb_populate_recordset|srv|req-/);
    }
    // no new stream for a data error
    expect(log.streamId).toBe(stream);
    expect(log.stats.refused).toBe(bad.length);

    // Every answered record is stored; the chain has no gap and links to the last committed row.
    const chain = await storedChain(t, stream);
    const answered = [first, ...settled.filter((s): s is PromiseFulfilledResult<DecisionRecord> => s.status === "fulfilled").map((s) => s.value)];
    expect(chain.length).toBe(answered.length);
    expect(chain.map((r) => r.seq)).toEqual(Array.from({ length: chain.length }, (_, i) => i + 1));
    chain.forEach((r, i) => expect(r.prevHash).toBe(i === 0 ? null : chain[i - 1]!.hash));
    const byId = new Map(answered.map((r) => [r.id, r]));
    for (const r of chain) {
      const a = byId.get(r.id)!;
      expect(a.seq).toBe(r.seq);
      expect(a.hash).toBe(r.hash);
      const { hash, ...rest } = a;
      expect(recordHash(rest)).toBe(hash);
    }
    const report = await verifyChains(t.database.db, { stream });
    expect(report.ok).toBe(true);
    expect(report.records).toBe(answered.length);
    // the writer's head is the last committed row
    expect(log.streamHeads().find((h) => h.stream === stream)).toEqual({ stream, seq: chain.length, hash: chain.at(-1)!.hash });
  }, 120_000);

  it("fails alone a record that cannot be hashed (a lone surrogate), where it used to leave its whole batch unanswered", async () => {
    const log = new DecisionLog(t.database);
    const first = await log.append(record(0));
    const settled = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => log.append(record(i + 1, i === 20 ? { user: "x\ud800y" } : {}))));
    await log.close();
    expect(settled.filter((s, i) => i !== 20 && s.status === "rejected")).toEqual([]);
    expect(settled[20]!.status).toBe("rejected");
    expect(((settled[20] as PromiseRejectedResult).reason as RecordError).reason).toBe("refused");
    expect(log.streamId).toBe(first.stream);
    const chain = await storedChain(t, first.stream);
    expect(chain.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect((await verifyChains(t.database.db, { stream: first.stream })).ok).toBe(true);
  }, 120_000);

  it("a fault of the database (not of any row) still fails the whole batch, and the writer starts a new stream", async () => {
    const log = new DecisionLog(t.database);
    await log.append(record(0));
    const stream = log.streamId;
    const restore = await refuseDecisionInserts(t.database.db);
    let settled: PromiseSettledResult<DecisionRecord>[];
    try {
      settled = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => log.append(record(i + 1))));
    } finally {
      await restore();
    }
    expect(settled.map((s) => s.status)).toEqual(Array(20).fill("rejected"));
    for (const s of settled) expect(((s as PromiseRejectedResult).reason as RecordError).reason).toBe("unavailable");
    expect(log.streamId).not.toBe(stream);
    // and recovers by itself
    const after = await log.append(record(99));
    expect(after.stream).toBe(log.streamId);
    await log.close();
    expect((await verifyChains(t.database.db)).ok).toBe(true);
  }, 120_000);
});

describe("defect 2: a value the wire admits and the database refuses fails only its own request", () => {
  let v: TestVerdict;
  beforeAll(async () => {
    v = await startTestVerdict();
    // A rule of the database's own that the wire does not know (as a DBA could add one): a
    // CHECK constraint refuses these rows with SQLSTATE 23514, a data error like an index row too large.
    await v.server.database.db.execute(
      sql.raw(`ALTER TABLE decisions ADD CONSTRAINT verdict_test_refuse CHECK (arguments->>'path' IS NULL OR arguments->>'path' NOT LIKE '%refuse-me%')`),
    );
  });
  afterAll(async () => {
    await v?.dispose();
  });

  it("answers the refused call 400 (never an allow) and every concurrent innocent call with a recorded decision", async () => {
    const headers = { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_KEY}` };
    const call = (path: string) => ({ agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path } });
    const N = 400;
    const bodies = Array.from({ length: N }, (_, i) => ({ bad: i % 50 === 25, body: call(i % 50 === 25 ? `/srv/runbooks/refuse-me-${i}.md` : `/srv/runbooks/${i}.md`) }));
    const stream = v.server.log.streamId;
    const answers = await Promise.all(
      bodies.map(async ({ bad, body }) => {
        const res = await fetch(`${v.url}/v1/mcp/tools/call`, { method: "POST", headers, body: JSON.stringify(body) });
        return { bad, status: res.status, body: (await res.json()) as { decision?: string; decisionId?: string; error?: { code: string; message: string } } };
      }),
    );
    const innocent = answers.filter((a) => !a.bad);
    const failed = innocent.filter((a) => a.status !== 200);
    console.log(`innocent calls failed by a row the database refuses in their batch: ${failed.length} of ${innocent.length}`);
    expect(failed).toEqual([]);
    expect(innocent.every((a) => a.body.decision === "allow")).toBe(true);
    const refused = answers.filter((a) => a.bad);
    expect(refused.length).toBe(8);
    for (const a of refused) {
      expect(a.status).toBe(400);
      expect(a.body.decision).toBeUndefined();
      expect(a.body.error?.code).toBe("unrecordable_input");
      expect(a.body.error?.message).not.toMatch(/refuse-me|verdict_test_refuse|INSERT|params/);
    }
    expect(v.server.log.streamId).toBe(stream);
    expect(v.server.log.stats.refused).toBe(8);
    // every innocent answer is in the record, and the chain verifies
    for (const a of innocent.slice(0, 20)) {
      const res = await fetch(`${v.url}/v1/decisions/${a.body.decisionId}`, { headers });
      expect(res.status).toBe(200);
    }
    expect((await verifyChains(v.server.database.db)).ok).toBe(true);
  }, 120_000);
});
