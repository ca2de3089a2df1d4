import { sql } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChainCheckpointer } from "../../src/audit/checkpoints.js";
import { verifyChains, verifyStream, chainHeadVerifier, type VerifyReport } from "../../src/audit/verify.js";
import { DecisionLog } from "../../src/decision-log/writer.js";
import { recordHash, type DecisionRecord } from "../../src/decision-log/record.js";
import { SigningKeys } from "../../src/signing-keys/store.js";
import { createTestApp, examplePolicySet, type TestApp } from "../helpers/app.js";
import { recordToolCall } from "../helpers/decisions.js";

let t: TestApp;
let keys: SigningKeys;
const exec = (q: ReturnType<typeof sql>) => t.db.database.db.execute(q);

/** A new writer (so a new stream) with `n` recorded decisions and its head signed. */
async function signedStream(n: number): Promise<{ stream: string; records: DecisionRecord[] }> {
  const log = new DecisionLog(t.db.database, { logger: pino({ level: "silent" }) });
  const records: DecisionRecord[] = [];
  for (let i = 0; i < n; i++) {
    records.push(
      await recordToolCall(log, examplePolicySet(), {
        agent: "incident-bot",
        user: "alice",
        server: "filesystem",
        tool: "read_file",
        arguments: { path: `/srv/runbooks/${i}.md` },
      }),
    );
  }
  await new ChainCheckpointer(t.db.database.db, log, keys).stop();
  await log.close();
  return { stream: log.streamId, records };
}

async function verify(stream: string) {
  return verifyStream(t.db.database.db, stream, await chainHeadVerifier(t.db.database.db));
}

beforeAll(async () => {
  t = await createTestApp();
  keys = await SigningKeys.open(t.db.database.db);
});
afterAll(async () => {
  await t.close();
});

describe("chain verification", () => {
  it("passes an untouched stream, covered by its signed head", async () => {
    const { stream } = await signedStream(5);
    const r = await verify(stream);
    expect(r).toMatchObject({ ok: true, records: 5, firstSeq: 1, lastSeq: 5, unsignedRecords: 0, problem: null });
    expect(r.checkpoint).toMatchObject({ seq: 5, valid: true });
  });

  it("catches an UPDATE of a field and names the record", async () => {
    const { stream, records } = await signedStream(6);
    await exec(sql`UPDATE decisions SET decision = 'deny' WHERE stream = ${stream} AND seq = 3`);
    const r = await verify(stream);
    expect(r.ok).toBe(false);
    expect(r.problem).toMatchObject({ kind: "altered", seq: 3, decisionId: records[2]!.id });
  });

  it("catches a DELETE in the middle and names the missing seq", async () => {
    const { stream, records } = await signedStream(6);
    await exec(sql`DELETE FROM decisions WHERE stream = ${stream} AND seq = 4`);
    const r = await verify(stream);
    expect(r.problem).toMatchObject({ kind: "missing", seq: 4, decisionId: records[4]!.id });
    expect(r.problem!.message).toContain("seq 4");
  });

  it("catches two records whose seq were swapped (reordering)", async () => {
    const { stream, records } = await signedStream(6);
    await exec(sql`UPDATE decisions SET seq = CASE seq WHEN 2 THEN 5 ELSE 2 END WHERE stream = ${stream} AND seq IN (2, 5)`);
    const r = await verify(stream);
    // At seq 2 the verifier now finds the record written as seq 5.
    expect(r.problem).toMatchObject({ kind: "altered", seq: 2, decisionId: records[4]!.id });
  });

  it("catches records deleted at the end, after a signed head (truncation)", async () => {
    const { stream } = await signedStream(6);
    await exec(sql`DELETE FROM decisions WHERE stream = ${stream} AND seq >= 5`);
    const r = await verify(stream);
    expect(r.problem).toMatchObject({ kind: "truncated", seq: 5 });
    expect(r.problem!.message).toContain("seq 5 to 6");
  });

  it("catches a whole stream deleted, from its signed head", async () => {
    const { stream } = await signedStream(3);
    await exec(sql`DELETE FROM decisions WHERE stream = ${stream}`);
    const r = await verify(stream);
    expect(r.problem).toMatchObject({ kind: "truncated", seq: 1 });
  });

  it("catches a record rewritten with consistently recomputed hashes, from the signed head", async () => {
    const { stream, records } = await signedStream(4);
    // The forger changes seq 2 and re-hashes it and every later record: the chain is valid again...
    let prev = records[0]!.hash;
    for (const rec of records.slice(1)) {
      const changed = { ...rec, prevHash: prev, decision: rec.seq === 2 ? ("deny" as const) : rec.decision };
      const { hash: _old, ...rest } = changed;
      const hash = recordHash(rest);
      await exec(sql`UPDATE decisions SET decision = ${changed.decision}, prev_hash = ${prev}, hash = ${hash} WHERE stream = ${stream} AND seq = ${rec.seq}`);
      prev = hash;
    }
    const r = await verify(stream);
    // ...but its head is not the one Verdict signed.
    expect(r.problem).toMatchObject({ kind: "checkpoint", seq: 4, decisionId: records[3]!.id });
  });

  it("catches a forged chain head (moved to a later seq without a new signature)", async () => {
    const { stream } = await signedStream(3);
    await exec(sql`UPDATE chain_checkpoints SET seq = 2 WHERE stream = ${stream}`);
    const r = await verify(stream);
    expect(r.checkpoint).toMatchObject({ seq: 2, valid: false });
    expect(r.problem).toMatchObject({ kind: "checkpoint" });
  });

  it("GET /v1/audit/verify reports every stream and the broken ones with their first broken link", async () => {
    const { stream } = await signedStream(2);
    const res = await t.request("/v1/audit/verify?brokenOnly=true");
    expect(res.status).toBe(200);
    const report = (await res.json()) as VerifyReport;
    expect(report.ok).toBe(false);
    expect(report.streams).toBeGreaterThanOrEqual(9);
    expect(report.reports.map((s) => s.problem?.kind).sort()).toEqual(["altered", "altered", "checkpoint", "checkpoint", "missing", "truncated", "truncated"]);
    expect(report.reports.find((s) => s.stream === stream)).toBeUndefined();
    const one = (await (await t.request(`/v1/audit/verify?stream=${stream}`)).json()) as VerifyReport;
    expect(one).toMatchObject({ ok: true, streams: 1, records: 2 });
    expect((await verifyChains(t.db.database.db, { stream })).ok).toBe(true);
  });
});
