/**
 * Issue 11, defects 6 and 11: tamper evidence. Every case changes the stored record with plain
 * SQL, the way someone with write access to the database would, and runs the real verifier
 * (`verifyChains`, what `verdict audit verify` and `GET /v1/audit/verify` run). Each case runs
 * in a transaction that is rolled back, so all cases share one fixture:
 *
 * - stream P: 4 decisions, the first two on days that retention dropped (seq 1-2 pruned);
 * - stream A: 6 decisions, signed heads at seq 3 and 6, then its writer stopped;
 * - stream B: a later writer (a restart), 2 decisions, its head signed after A's.
 *
 * The columns of `decisions`, `streams` and `chain_checkpoints` are read from
 * information_schema, so a column added later without a tamper case here fails the suite.
 */
import { createHash } from "node:crypto";
import { sql, type SQL } from "drizzle-orm";
import pino from "pino";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChainCheckpointer } from "../../src/audit/checkpoints.js";
import { verifyChains, type VerifyReport } from "../../src/audit/verify.js";
import { DecisionRecord as DecisionRecordSchema } from "../../src/contract/decision-log.js";
import type { Db } from "../../src/db/client.js";
import { DecisionLog } from "../../src/decision-log/writer.js";
import { dropExpiredPartitions, rowsOf, utcDay } from "../../src/decision-log/partitions.js";
import { recordHash, type DecisionRecord } from "../../src/decision-log/record.js";
import { toRecord } from "../../src/pdp/decide.js";
import { SigningKeys } from "../../src/signing-keys/store.js";
import { evaluateToolCall } from "../../src/pdp/tool-call.js";
import { examplePolicySet } from "../helpers/app.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

const DAY = 86_400_000;
/** Noon UTC today: the fixture's "now", far from a UTC midnight whatever the hour the suite runs. */
const NOON = Date.parse(utcDay(new Date())) + DAY / 2;

let t: TestDatabase;
let db: Db;
let keys: SigningKeys;
const streams = { P: "", A: "", B: "" };
const recordsOf: Record<string, DecisionRecord[]> = {};

/** Appends one fully populated decision (user, task, delegation, identity, credential, caller, request id). */
function append(log: DecisionLog, i: number, time: Date): Promise<DecisionRecord> {
  const evaluation = evaluateToolCall(
    examplePolicySet(),
    { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: `/srv/runbooks/${i}.md` }, task: { id: "T-1", kind: "incident" } },
    time,
  );
  return log.append(
    toRecord(evaluation, {
      id: uuidv7(),
      time,
      caller: "key:tamper-test",
      requestId: `req-${i}`,
      delegation: [{ sub: "alice", iss: "https://idp.example" }],
      identity: { agent: { id: "incident-bot", verified: true, issuer: "https://idp.example" }, user: { id: "alice", verified: false } },
      credentialJti: `jti-${i}`,
      // Every other record carries a trace id: both forms are hashed and tampered with below.
      traceId: i % 2 ? null : i.toString(16).padStart(32, "0"),
    }),
  );
}

class Rollback extends Error {}

/** Runs `tamper` and the verifier in one transaction, then rolls it back. */
async function tampered(tamper: (tx: Db) => Promise<unknown>): Promise<VerifyReport> {
  let report: VerifyReport | undefined;
  await db
    .transaction(async (tx) => {
      await tamper(tx as unknown as Db);
      report = await verifyChains(tx as unknown as Db);
      throw new Rollback();
    })
    .catch((e: unknown) => {
      if (!(e instanceof Rollback)) throw e;
    });
  return report!;
}

const run = (...statements: SQL[]) => async (tx: Db) => {
  for (const s of statements) await tx.execute(s);
};

/** The stream reports with a problem, by stream id. */
function broken(report: VerifyReport): Record<string, { kind: string; seq: number }> {
  const out: Record<string, { kind: string; seq: number }> = {};
  for (const s of report.reports) if (s.problem) out[s.stream] = { kind: s.problem.kind, seq: s.problem.seq };
  return out;
}

async function columnsOf(table: string): Promise<string[]> {
  const res = await db.execute(
    sql`SELECT column_name::text AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ${table} ORDER BY 1`,
  );
  return rowsOf<{ name: string }>(res).map((r) => r.name);
}

beforeAll(async () => {
  t = await createTestDatabase();
  db = t.database.db;
  keys = await SigningKeys.open(db);
  const logger = pino({ level: "silent" });

  const p = new DecisionLog(t.database, { logger });
  recordsOf.P = [];
  for (const [i, daysAgo] of [12, 11, 2, 0].entries()) recordsOf.P.push(await append(p, i, new Date(NOON - daysAgo * DAY)));
  await new ChainCheckpointer(db, p, keys, { intervalMs: 3_600_000 }).stop();
  await p.close();
  expect(await dropExpiredPartitions(db, 10, new Date(NOON))).toHaveLength(2);
  streams.P = p.streamId;

  const a = new DecisionLog(t.database, { logger });
  const cpA = new ChainCheckpointer(db, a, keys, { intervalMs: 3_600_000 });
  recordsOf.A = [];
  for (let i = 0; i < 6; i++) {
    recordsOf.A.push(await append(a, i, new Date(NOON)));
    if (i === 2) await cpA.checkpoint();
  }
  await cpA.stop();
  await a.close();
  streams.A = a.streamId;

  const b = new DecisionLog(t.database, { logger });
  recordsOf.B = [await append(b, 0, new Date(NOON)), await append(b, 1, new Date(NOON))];
  await new ChainCheckpointer(db, b, keys, { intervalMs: 3_600_000 }).stop();
  await b.close();
  streams.B = b.streamId;
}, 120_000);
afterAll(async () => {
  await t.dispose();
});

describe("defect 6: tamper evidence has gaps", () => {
  it("the untouched fixture verifies", async () => {
    const report = await verifyChains(db);
    expect(broken(report)).toEqual({});
    expect(report.ok).toBe(true);
  });

  it("changing only a decision's task_id (what the task search reads) is caught", async () => {
    const report = await tampered(run(sql`UPDATE decisions SET task_id = 'T-other' WHERE stream = ${streams.A}::uuid AND seq = 2`));
    expect(broken(report)[streams.A]).toEqual({ kind: "altered", seq: 2 });
  });

  it("deleting the oldest rows and setting streams.pruned_seq by hand is caught (not taken for retention)", async () => {
    const a2 = recordsOf.A![1]!;
    const report = await tampered(
      run(
        sql`DELETE FROM decisions WHERE stream = ${streams.A}::uuid AND seq <= 2`,
        sql`UPDATE streams SET pruned_seq = 2, pruned_hash = ${a2.hash} WHERE id = ${streams.A}::uuid`,
      ),
    );
    expect(report.ok).toBe(false);
    expect(broken(report)[streams.A]).toMatchObject({ seq: 1 });
  });

  it("deleting the newest rows together with the newer signed heads is caught", async () => {
    const report = await tampered(
      run(sql`DELETE FROM decisions WHERE stream = ${streams.A}::uuid AND seq >= 5`, sql`DELETE FROM chain_checkpoints WHERE stream = ${streams.A}::uuid AND seq >= 5`),
    );
    expect(broken(report)[streams.A]).toEqual({ kind: "truncated", seq: 5 });
  });

  it("deleting a whole stream with its streams row and its signed heads is caught", async () => {
    const report = await tampered(
      run(
        sql`DELETE FROM decisions WHERE stream = ${streams.A}::uuid`,
        sql`DELETE FROM chain_checkpoints WHERE stream = ${streams.A}::uuid`,
        sql`DELETE FROM streams WHERE id = ${streams.A}::uuid`,
      ),
    );
    expect(report.ok).toBe(false);
    expect(broken(report)[streams.A]).toMatchObject({ seq: 1 });
  });

  it("deleting every record and signed head of a stream, its streams row kept, is caught", async () => {
    const report = await tampered(
      run(
        sql`DELETE FROM chain_checkpoints WHERE stream = ${streams.A}::uuid`,
        sql`DELETE FROM decisions WHERE stream = ${streams.A}::uuid`,
        // and the later head that listed A
        sql`DELETE FROM chain_checkpoints WHERE stream = ${streams.B}::uuid`,
      ),
    );
    expect(broken(report)[streams.A]).toEqual({ kind: "missing", seq: 1 });
  });

  it("deleting a signed head in the middle of a stream's heads is caught", async () => {
    const report = await tampered(run(sql`DELETE FROM chain_checkpoints WHERE stream = ${streams.A}::uuid AND seq = 3`));
    expect(broken(report)[streams.A]).toMatchObject({ kind: "checkpoint", seq: 6 });
  });

  it("every signed head is checked, not only the newest: an older head's hash changed is caught", async () => {
    const report = await tampered(run(sql`UPDATE chain_checkpoints SET hash = md5('forged') WHERE stream = ${streams.A}::uuid AND seq = 3`));
    expect(broken(report)[streams.A]).toMatchObject({ kind: "checkpoint", seq: 3 });
  });

  it("a record replaced by one with a valid hash of its own is a link problem", async () => {
    const r4 = recordsOf.A![3]!;
    const { hash: _h, ...rest } = { ...r4, prevHash: "0".repeat(64) };
    const report = await tampered(
      run(sql`UPDATE decisions SET prev_hash = ${"0".repeat(64)}, hash = ${recordHash(rest)} WHERE stream = ${streams.A}::uuid AND seq = 4`),
    );
    expect(broken(report)[streams.A]).toEqual({ kind: "link", seq: 4 });
  });
});

/** One tampering per stored column; each must be caught. */
const decisionColumns: Record<string, SQL> = {
  id: sql`id = gen_random_uuid()`,
  time: sql`time = time + interval '1 second'`,
  kind: sql`kind = 'authorize'`,
  agent: sql`agent = agent || '-x'`,
  user_id: sql`user_id = 'mallory'`,
  delegation: sql`delegation = '[{"sub": "mallory"}]'::jsonb`,
  server: sql`server = 'github'`,
  tool: sql`tool = 'write_file'`,
  action: sql`action = 'Mcp::Action::"filesystem/write_file"'`,
  arguments: sql`arguments = '{"path": "/etc/shadow"}'::jsonb`,
  arguments_sha256: sql`arguments_sha256 = md5('forged')`,
  task: sql`task = '{"id": "T-1", "kind": "other"}'::jsonb`,
  task_id: sql`task_id = 'T-other'`,
  decision: sql`decision = CASE decision WHEN 'allow' THEN 'deny' ELSE 'allow' END`,
  reasons: sql`reasons = ARRAY['forged-policy']`,
  errors: sql`errors = '[{"policyId": null, "message": "forged"}]'::jsonb`,
  obligations: sql`obligations = '[{"type": "forged"}]'::jsonb`,
  message: sql`message = 'forged'`,
  policy_set_version: sql`policy_set_version = 'sha256:forged'`,
  caller: sql`caller = 'key:forged'`,
  identity: sql`identity = '{"agent": {"id": "incident-bot", "verified": false}, "user": null}'::jsonb`,
  credential_jti: sql`credential_jti = 'jti-forged'`,
  request_id: sql`request_id = 'req-forged'`,
  trace_id: sql`trace_id = ${"f".repeat(32)}`,
  evaluation_micros: sql`evaluation_micros = evaluation_micros + 1`,
  request: sql`request = '{}'::jsonb`,
  stream: sql`stream = gen_random_uuid()`,
  seq: sql`seq = seq + 100`,
  prev_hash: sql`prev_hash = md5('forged')`,
  hash: sql`hash = md5('forged')`,
  hash_version: sql`hash_version = 1`,
};

describe("defect 11: every stored column of decisions, changed with SQL, is caught by the verifier", () => {
  it("has a tamper case for every column information_schema lists", async () => {
    expect(Object.keys(decisionColumns).sort()).toEqual(await columnsOf("decisions"));
  });

  for (const [column, set] of Object.entries(decisionColumns)) {
    // A record moved to another stream or seq leaves a gap where it was; any other change breaks its hash.
    const kind = column === "stream" || column === "seq" ? "missing" : "altered";
    it(`decisions.${column}: ${kind} at seq 2`, async () => {
      const report = await tampered(run(sql`UPDATE decisions SET ${set} WHERE stream = ${streams.A}::uuid AND seq = 2`));
      expect(report.ok).toBe(false);
      expect(broken(report)[streams.A]).toEqual({ kind, seq: 2 });
    });
  }

  it("decisions.trace_id cleared on a traced record, and set on an untraced one (hashed only when set)", async () => {
    const rows = rowsOf<{ seq: number | string; trace_id: string | null }>(await db.execute(sql`SELECT seq, trace_id FROM decisions WHERE stream = ${streams.A}::uuid ORDER BY seq`));
    const traced = Number(rows.find((r) => r.trace_id !== null)!.seq);
    const untraced = Number(rows.find((r) => r.trace_id === null)!.seq);
    const cleared = await tampered(run(sql`UPDATE decisions SET trace_id = NULL WHERE stream = ${streams.A}::uuid AND seq = ${traced}`));
    expect(broken(cleared)[streams.A]).toEqual({ kind: "altered", seq: traced });
    const set = await tampered(run(sql`UPDATE decisions SET trace_id = ${"e".repeat(32)} WHERE stream = ${streams.A}::uuid AND seq = ${untraced}`));
    expect(broken(set)[streams.A]).toEqual({ kind: "altered", seq: untraced });
  });

  it("decisions.time moved by less than a millisecond (what since/until compare)", async () => {
    const report = await tampered(run(sql`UPDATE decisions SET time = time + interval '1 microsecond' WHERE stream = ${streams.A}::uuid AND seq = 2`));
    expect(broken(report)[streams.A]).toEqual({ kind: "altered", seq: 2 });
  });
});

/** A tampering of one column, the stream whose report must show it, and the problem expected there. */
interface ColumnCase {
  tamper: (ids: typeof streams) => SQL;
  stream: keyof typeof streams;
  expect: { kind: string; seq: number };
}

const streamColumns: Record<string, ColumnCase> = {
  id: { tamper: (s) => sql`UPDATE streams SET id = gen_random_uuid() WHERE id = ${s.A}::uuid`, stream: "A", expect: { kind: "stream", seq: 1 } },
  started_at: { tamper: (s) => sql`UPDATE streams SET started_at = started_at - interval '1 hour' WHERE id = ${s.A}::uuid`, stream: "A", expect: { kind: "stream", seq: 1 } },
  host: { tamper: (s) => sql`UPDATE streams SET host = host || '-x' WHERE id = ${s.A}::uuid`, stream: "A", expect: { kind: "stream", seq: 1 } },
  pid: { tamper: (s) => sql`UPDATE streams SET pid = pid + 1 WHERE id = ${s.A}::uuid`, stream: "A", expect: { kind: "stream", seq: 1 } },
  pruned_seq: {
    tamper: (s) => sql`UPDATE streams SET pruned_seq = 1, pruned_hash = (SELECT hash FROM decisions WHERE stream = ${s.A}::uuid AND seq = 1) WHERE id = ${s.A}::uuid`,
    stream: "A",
    expect: { kind: "retention", seq: 1 },
  },
  pruned_hash: { tamper: (s) => sql`UPDATE streams SET pruned_hash = md5('forged') WHERE id = ${s.P}::uuid`, stream: "P", expect: { kind: "retention", seq: 2 } },
  chain_version: { tamper: (s) => sql`UPDATE streams SET chain_version = 1 WHERE id = ${s.A}::uuid`, stream: "A", expect: { kind: "stream", seq: 1 } },
};

const checkpointColumns: Record<string, ColumnCase> = {
  stream: { tamper: (s) => sql`UPDATE chain_checkpoints SET stream = ${s.B}::uuid WHERE stream = ${s.A}::uuid AND seq = 3`, stream: "B", expect: { kind: "checkpoint", seq: 3 } },
  kind: { tamper: (s) => sql`UPDATE chain_checkpoints SET kind = 'retention' WHERE stream = ${s.A}::uuid AND seq = 3`, stream: "A", expect: { kind: "retention", seq: 3 } },
  seq: { tamper: (s) => sql`UPDATE chain_checkpoints SET seq = 2 WHERE stream = ${s.A}::uuid AND seq = 3`, stream: "A", expect: { kind: "checkpoint", seq: 2 } },
  hash: { tamper: (s) => sql`UPDATE chain_checkpoints SET hash = md5('forged') WHERE stream = ${s.A}::uuid AND seq = 3`, stream: "A", expect: { kind: "checkpoint", seq: 3 } },
  jwt: {
    tamper: (s) => sql`UPDATE chain_checkpoints SET jwt = (SELECT jwt FROM chain_checkpoints WHERE stream = ${s.A}::uuid AND seq = 6) WHERE stream = ${s.A}::uuid AND seq = 3`,
    stream: "A",
    expect: { kind: "checkpoint", seq: 3 },
  },
  time: { tamper: (s) => sql`UPDATE chain_checkpoints SET time = time - interval '1 minute' WHERE stream = ${s.A}::uuid AND seq = 3`, stream: "A", expect: { kind: "checkpoint", seq: 3 } },
};

describe("defect 11: every stored column of streams and chain_checkpoints, changed with SQL, is caught", () => {
  it("has a tamper case for every column information_schema lists", async () => {
    expect(Object.keys(streamColumns).sort()).toEqual(await columnsOf("streams"));
    expect(Object.keys(checkpointColumns).sort()).toEqual(await columnsOf("chain_checkpoints"));
  });

  for (const [table, cases] of [
    ["streams", streamColumns],
    ["chain_checkpoints (of an older head, not the newest)", checkpointColumns],
  ] as const) {
    for (const [column, c] of Object.entries(cases)) {
      it(`${table.split(" ")[0]}.${column}: ${c.expect.kind} in stream ${c.stream}`, async () => {
        const report = await tampered(run(c.tamper(streams)));
        expect(report.ok).toBe(false);
        expect(broken(report)[streams[c.stream]]).toEqual(c.expect);
      });
    }
  }
});

/**
 * A fixed record and its hashes, computed once by hand from the canonical JSON below (RFC 8785:
 * keys sorted, no spaces). Dropping a field from the hash, or adding one, changes recordHash's
 * answer and fails these tests, whatever recordHash itself does.
 */
const FIXED = {
  id: "01930000-0000-7000-8000-000000000001",
  time: "2026-11-21T10:00:00.000Z",
  kind: "tools/call",
  agent: "incident-bot",
  user: "alice",
  delegation: [{ sub: "alice", iss: "https://idp.example" }],
  server: "filesystem",
  tool: "read_file",
  action: 'Mcp::Action::"filesystem/read_file"',
  arguments: { path: "/srv/runbooks/db.md" },
  argumentsSha256: "a".repeat(64),
  task: { id: "INC-1234", kind: "incident" },
  decision: "allow",
  reasons: ["allow-runbook-reads"],
  errors: [],
  obligations: [],
  message: null,
  policySetVersion: "sha256:" + "b".repeat(64),
  caller: "key:gateway",
  identity: { agent: { id: "incident-bot", verified: true, issuer: "https://idp.example" }, user: null },
  credentialJti: "jti-1",
  requestId: "req-1",
  evaluationMicros: 42,
  request: { principal: { type: "Mcp::Agent", id: "incident-bot" } },
  stream: "01930000-0000-7000-8000-0000000000aa",
  seq: 7,
  prevHash: "c".repeat(64),
} as const satisfies Omit<DecisionRecord, "hash">;

const V1_CANONICAL =
  '{"action":"Mcp::Action::\\"filesystem/read_file\\"","agent":"incident-bot","arguments":{"path":"/srv/runbooks/db.md"},' +
  `"argumentsSha256":"${"a".repeat(64)}","caller":"key:gateway","credentialJti":"jti-1","decision":"allow",` +
  '"delegation":[{"iss":"https://idp.example","sub":"alice"}],"errors":[],"evaluationMicros":42,' +
  '"id":"01930000-0000-7000-8000-000000000001","identity":{"agent":{"id":"incident-bot","issuer":"https://idp.example","verified":true},"user":null},' +
  `"kind":"tools/call","message":null,"obligations":[],"policySetVersion":"sha256:${"b".repeat(64)}","prevHash":"${"c".repeat(64)}",` +
  '"reasons":["allow-runbook-reads"],"request":{"principal":{"id":"incident-bot","type":"Mcp::Agent"}},"requestId":"req-1","seq":7,' +
  '"server":"filesystem","stream":"01930000-0000-7000-8000-0000000000aa","task":{"id":"INC-1234","kind":"incident"},' +
  '"time":"2026-11-21T10:00:00.000Z","tool":"read_file","user":"alice"}';
const V2_CANONICAL = V1_CANONICAL.replace('"evaluationMicros":42,', '"evaluationMicros":42,"hashVersion":2,');
/** The same record with a trace id (migration 0007): `traceId` is hashed when set, in its canonical place. */
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const V2_TRACED_CANONICAL = V2_CANONICAL.replace('"tool":"read_file",', `"tool":"read_file","traceId":"${TRACE_ID}",`);
const V1_HASH = "3dc2fd285dcabcbcfc23219ed686e77de838ebf0f46e417e37c8d1526acfc8e9";
const V2_HASH = "f0f3f270ff9eeba7a3cc4b51a94d8bf3a37ecddfedffc5b037a712f1c8c717d4";
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

describe("defect 11: the record hash covers every field (fixed vectors, not recordHash compared with itself)", () => {
  it("the canonical texts name every field of the wire record but hash, and hash to the fixed values", () => {
    for (const key of Object.keys(DecisionRecordSchema.shape)) {
      if (key === "hash") continue;
      // traceId is hashed only when set (an untraced record hashes as before migration 0007)
      if (key === "traceId") continue;
      expect(V1_CANONICAL, key).toContain(`"${key}":`);
      expect(Object.keys(FIXED), key).toContain(key);
    }
    expect(V2_TRACED_CANONICAL).toContain(`"traceId":"${TRACE_ID}"`);
    expect(sha256(V1_CANONICAL)).toBe(V1_HASH);
    expect(sha256(V2_CANONICAL)).toBe(V2_HASH);
  });

  it("traceId: absent or null hashes as before the field existed; set, it is covered", () => {
    expect(recordHash({ ...FIXED, traceId: null })).toBe(V2_HASH);
    expect(recordHash({ ...FIXED, traceId: null }, 1)).toBe(V1_HASH);
    expect(recordHash({ ...FIXED, traceId: TRACE_ID })).toBe(sha256(V2_TRACED_CANONICAL));
    expect(recordHash({ ...FIXED, traceId: TRACE_ID })).not.toBe(recordHash({ ...FIXED, traceId: TRACE_ID.replace("4", "5") }));
  });

  it("version 2 (what Verdict writes) is the SHA-256 of the record plus hashVersion", () => {
    expect(recordHash(FIXED)).toBe(V2_HASH);
    expect(recordHash(FIXED, 2)).toBe(V2_HASH);
  });

  it("version 1 (rows written before migration 0006) is the SHA-256 of the record alone", () => {
    expect(recordHash(FIXED, 1)).toBe(V1_HASH);
  });

  for (const key of Object.keys(FIXED) as (keyof typeof FIXED)[]) {
    it(`changing ${key} alone changes both hashes`, () => {
      const value = FIXED[key];
      const changed = { ...FIXED, [key]: typeof value === "number" ? value + 1 : value === null ? "x" : typeof value === "string" ? value + "x" : { changed: true } };
      expect(recordHash(changed as never, 2)).not.toBe(V2_HASH);
      expect(recordHash(changed as never, 1)).not.toBe(V1_HASH);
    });
  }
});

/**
 * The kinds of tampering someone with write access to the database can try, each caught by the
 * verifier (the figure of the note: "tamperings detected: X of Y kinds").
 */
describe("defect 6: tamperings detected, by kind", () => {
  const kinds = (): Array<[string, (tx: Db) => Promise<unknown>]> => {
    const A = streams.A;
    const P = streams.P;
    const a = recordsOf.A!;
    return [
      ["UPDATE a field of a middle record", run(sql`UPDATE decisions SET decision = 'deny' WHERE stream = ${A}::uuid AND seq = 3`)],
      ["DELETE a middle record", run(sql`DELETE FROM decisions WHERE stream = ${A}::uuid AND seq = 3`)],
      ["swap two records' seq", run(sql`UPDATE decisions SET seq = CASE seq WHEN 2 THEN 4 ELSE 2 END WHERE stream = ${A}::uuid AND seq IN (2, 4)`)],
      ["DELETE the last records after the newest signed head", run(sql`DELETE FROM decisions WHERE stream = ${A}::uuid AND seq >= 5`)],
      ["DELETE a stream's records (its row and heads kept)", run(sql`DELETE FROM decisions WHERE stream = ${A}::uuid`)],
      ["move a signed head to another seq", run(sql`UPDATE chain_checkpoints SET seq = 5 WHERE stream = ${A}::uuid AND seq = 6`)],
      [
        "rewrite a record and re-hash it and every later record",
        async (tx) => {
          let prev = a[1]!.hash;
          for (const r of a.slice(2)) {
            const { hash: _old, ...rest } = { ...r, prevHash: prev, decision: r.seq === 3 ? ("deny" as const) : r.decision };
            const hash = recordHash(rest);
            await tx.execute(sql`UPDATE decisions SET decision = ${rest.decision}, prev_hash = ${prev}, hash = ${hash} WHERE stream = ${A}::uuid AND seq = ${r.seq}`);
            prev = hash;
          }
        },
      ],
      ["change only task_id", run(sql`UPDATE decisions SET task_id = 'T-other' WHERE stream = ${A}::uuid AND seq = 2`)],
      [
        "DELETE the oldest records and set streams.pruned_seq/pruned_hash",
        run(sql`DELETE FROM decisions WHERE stream = ${A}::uuid AND seq <= 2`, sql`UPDATE streams SET pruned_seq = 2, pruned_hash = ${a[1]!.hash} WHERE id = ${A}::uuid`),
      ],
      [
        "DELETE the newest records with the newer signed heads",
        run(sql`DELETE FROM decisions WHERE stream = ${A}::uuid AND seq >= 5`, sql`DELETE FROM chain_checkpoints WHERE stream = ${A}::uuid AND seq >= 5`),
      ],
      [
        "DELETE a whole stream with its streams row and signed heads",
        run(sql`DELETE FROM decisions WHERE stream = ${A}::uuid`, sql`DELETE FROM chain_checkpoints WHERE stream = ${A}::uuid`, sql`DELETE FROM streams WHERE id = ${A}::uuid`),
      ],
      [
        "replace a record with one carrying a valid hash of its own",
        (tx) => {
          const { hash: _h, ...rest } = { ...a[3]!, prevHash: "0".repeat(64) };
          return tx.execute(sql`UPDATE decisions SET prev_hash = ${rest.prevHash}, hash = ${recordHash(rest)} WHERE stream = ${A}::uuid AND seq = 4`);
        },
      ],
      ["DELETE a signed head in the middle", run(sql`DELETE FROM chain_checkpoints WHERE stream = ${A}::uuid AND seq = 3`)],
      ["DELETE every signed head of a stream (records kept)", run(sql`DELETE FROM chain_checkpoints WHERE stream = ${A}::uuid`)],
      ["change an older signed head, the newest left intact", run(sql`UPDATE chain_checkpoints SET hash = md5('x') WHERE stream = ${A}::uuid AND seq = 3`)],
      ["DELETE the retention checkpoint of a pruned stream", run(sql`DELETE FROM chain_checkpoints WHERE stream = ${P}::uuid AND kind = 'retention'`)],
      ["change a stream's registration (host)", run(sql`UPDATE streams SET host = 'elsewhere' WHERE id = ${A}::uuid`)],
      [
        "pass a stream off as legacy: version-1 hashes recomputed, chain_version 1, its heads deleted",
        async (tx) => {
          let prev: string | null = null;
          for (const r of a) {
            const { hash: _old, ...rest } = { ...r, prevHash: prev };
            const hash = recordHash(rest, 1);
            await tx.execute(sql`UPDATE decisions SET hash_version = 1, prev_hash = ${prev}, hash = ${hash} WHERE stream = ${A}::uuid AND seq = ${r.seq}`);
            prev = hash;
          }
          await tx.execute(sql`UPDATE streams SET chain_version = 1 WHERE id = ${A}::uuid`);
          await tx.execute(sql`DELETE FROM chain_checkpoints WHERE stream = ${A}::uuid`);
        },
      ],
      ["move a record's time by a microsecond", run(sql`UPDATE decisions SET time = time + interval '1 microsecond' WHERE stream = ${A}::uuid AND seq = 2`)],
      [
        "INSERT a second record at an existing seq",
        run(
          sql`CREATE TEMP TABLE copy_of_2 AS SELECT * FROM decisions WHERE stream = ${A}::uuid AND seq = 2`,
          sql`UPDATE copy_of_2 SET id = gen_random_uuid(), decision = 'deny'`,
          sql`INSERT INTO decisions SELECT * FROM copy_of_2`,
        ),
      ],
    ];
  };

  it("catches every kind (20 of 20)", async () => {
    const missed: string[] = [];
    const all = kinds();
    for (const [name, tamper] of all) {
      const report = await tampered(tamper);
      if (report.ok) missed.push(name);
    }
    expect(missed).toEqual([]);
    expect(all).toHaveLength(20);
  }, 120_000);
});
