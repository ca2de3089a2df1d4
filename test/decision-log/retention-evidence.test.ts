/**
 * Issue 11, defect 6: retention leaves signed evidence of what it removed, and rows written
 * before migration 0006 (version-1 hashes, legacy heads, unsigned pruning) still verify after it.
 * (test/decision-log/partitions.test.ts covers the partitions themselves.)
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPairSync } from "node:crypto";
import { and, asc, eq, sql } from "drizzle-orm";
import { decodeJwt, decodeProtectedHeader } from "jose";
import pg from "pg";
import pino from "pino";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChainCheckpointer } from "../../src/audit/checkpoints.js";
import type { HeadClaims, RetentionClaims } from "../../src/decision-log/chain.js";
import { verifyChains } from "../../src/audit/verify.js";
import { openDatabase, type Db } from "../../src/db/client.js";
import { chainCheckpoints } from "../../src/db/audit-schema.js";
import { streams } from "../../src/db/schema.js";
import { DecisionLog } from "../../src/decision-log/writer.js";
import { dropExpiredPartitions, utcDay } from "../../src/decision-log/partitions.js";
import { recordHash, type DecisionRecord } from "../../src/decision-log/record.js";
import { toRecord } from "../../src/pdp/decide.js";
import { parseSigningKey, SigningKeys } from "../../src/signing-keys/store.js";
import { evaluateToolCall } from "../../src/pdp/tool-call.js";
import { examplePolicySet, ROOT } from "../helpers/app.js";
import { createPostgresDatabase, createTestDatabase, usingPostgres, type TestDatabase } from "../helpers/db.js";
import { recordToolCall } from "../helpers/decisions.js";

const DAY = 86_400_000;
/** Noon UTC today: the tests' "now", far from a UTC midnight whatever the hour they run. */
const NOON = Date.parse(utcDay(new Date())) + DAY / 2;
const quiet = pino({ level: "silent" });

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.dispose();
});

const read = (log: DecisionLog, daysAgo: number, i: number) =>
  recordToolCall(log, examplePolicySet(), { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: `/srv/${i}` } }, { time: new Date(NOON - daysAgo * DAY) });

/** A stream with decisions 12, 11, 2 and 0 days old, heads signed at seq 2 and 4. */
async function agedStream(signer: SigningKeys): Promise<{ stream: string; records: DecisionRecord[] }> {
  const log = new DecisionLog(t.database, { logger: quiet });
  const cp = new ChainCheckpointer(t.database.db, log, signer);
  const records: DecisionRecord[] = [];
  for (const [i, daysAgo] of [12, 11, 2, 0].entries()) {
    records.push(await read(log, daysAgo, i));
    if (i === 1) await cp.checkpoint();
  }
  await cp.stop();
  await log.close();
  return { stream: log.streamId, records };
}

describe("defect 6: retention leaves signed evidence of what it removed", () => {
  it("signs a retention checkpoint per stream (stream, last seq removed and its hash, partition, time), and the rest verifies", async () => {
    const db = t.database.db;
    const keys = await SigningKeys.open(db);
    const { stream, records } = await agedStream(keys);
    expect(await dropExpiredPartitions(db, 10, new Date(NOON), keys)).toHaveLength(2);

    const rows = await db.select().from(chainCheckpoints).where(and(eq(chainCheckpoints.stream, stream), eq(chainCheckpoints.kind, "retention"))).orderBy(asc(chainCheckpoints.seq));
    expect(rows.map((r) => [r.seq, r.hash])).toEqual([
      [1, records[0]!.hash],
      [2, records[1]!.hash],
    ]);
    const claims = (await keys.verifyJwt(rows[1]!.jwt, { typ: "verdict-chain-retention+jwt" })) as unknown as RetentionClaims;
    expect(claims).toMatchObject({ v: 2, kind: "retention", stream, seq: 2, fromSeq: 2, hash: records[1]!.hash, time: rows[1]!.time.toISOString() });
    expect(claims.partition).toBe(`decisions_p${utcDay(new Date(NOON - 11 * DAY)).replaceAll("-", "")}`);
    // The head at seq 2 went with the records it covered; the head at 4 remains.
    const heads = await db.select().from(chainCheckpoints).where(and(eq(chainCheckpoints.stream, stream), eq(chainCheckpoints.kind, "head")));
    expect(heads.map((h) => h.seq)).toEqual([4]);
    expect((decodeJwt(heads[0]!.jwt) as unknown as HeadClaims).prevSeq).toBe(2);
    const [row] = await db.select().from(streams).where(eq(streams.id, stream));
    expect(row).toMatchObject({ prunedSeq: 2, prunedHash: records[1]!.hash });

    const report = await verifyChains(db, { stream });
    expect(report.reports[0]).toMatchObject({ ok: true, prunedThrough: 2, prunedSigned: true, firstSeq: 3, lastSeq: 4, version: 2 });
  });

  it("without its signed retention checkpoint, the same pruning is deleted records", async () => {
    const db = t.database.db;
    const keys = await SigningKeys.open(db);
    const { stream } = await agedStream(keys);
    await dropExpiredPartitions(db, 10, new Date(NOON), keys);
    await db.execute(sql`DELETE FROM chain_checkpoints WHERE stream = ${stream}::uuid AND kind = 'retention'`);
    const report = (await verifyChains(db, { stream })).reports[0]!;
    expect(report.ok).toBe(false);
    // The gap, the unsigned pruned_seq, and the head at 4 whose predecessor (seq 2) retention removed.
    expect(report.problems.map((p) => [p.kind, p.seq])).toEqual([
      ["missing", 1],
      ["retention", 1],
      ["checkpoint", 4],
    ]);
    expect(report.problem).toMatchObject({ kind: "missing", seq: 1 });
  });

  it("signs with the key it is given (one held outside the database), which the configured trust accepts", async () => {
    const db = t.database.db;
    const external = parseSigningKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }) as string);
    const signer = await SigningKeys.open(db, { chainKey: external });
    const { stream } = await agedStream(signer);
    await dropExpiredPartitions(db, 10, new Date(NOON), signer);
    const [retention] = await db.select().from(chainCheckpoints).where(and(eq(chainCheckpoints.stream, stream), eq(chainCheckpoints.kind, "retention")));
    expect(decodeProtectedHeader(retention!.jwt).kid).toBe(external.kid);
    expect((await verifyChains(db, { stream, trust: signer.chainTrust() })).reports[0]).toMatchObject({ ok: true, prunedSigned: true });
    // The database's keys did not sign it: with their trust, the pruning is not vouched for.
    expect((await verifyChains(db, { stream })).ok).toBe(false);
  });
});

/** Column names of `decisions` before migration 0006. */
const LEGACY_COLUMNS = [
  "id", "time", "kind", "agent", "user_id", "delegation", "server", "tool", "action", "arguments", "arguments_sha256", "task", "task_id", "decision",
  "reasons", "errors", "obligations", "message", "policy_set_version", "caller", "request_id", "evaluation_micros", "request", "stream", "seq",
  "prev_hash", "hash", "identity", "credential_jti",
];

/** A chain of `n` records as the code before 0006 wrote them (version-1 hashes), seqs from `from`. */
function legacyChain(stream: string, n: number, from = 1, prevHash: string | null = null): DecisionRecord[] {
  const out: DecisionRecord[] = [];
  let prev = prevHash;
  for (let i = 0; i < n; i++) {
    const time = new Date(NOON);
    const e = evaluateToolCall(examplePolicySet(), { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: `/srv/legacy/${i}` }, task: { id: "T-old" } }, time);
    const unhashed = { ...toRecord(e, { id: uuidv7(), time, caller: null, requestId: null, delegation: [], identity: null, credentialJti: null }), stream, seq: from + i, prevHash: prev };
    const hash = recordHash(unhashed, 1);
    out.push({ ...unhashed, hash });
    prev = hash;
  }
  return out;
}

function legacyRow(r: DecisionRecord): Record<string, unknown> {
  return {
    id: r.id, time: r.time, kind: r.kind, agent: r.agent, user_id: r.user, delegation: r.delegation, server: r.server, tool: r.tool, action: r.action,
    arguments: r.arguments, arguments_sha256: r.argumentsSha256, task: r.task, task_id: r.task?.id ?? null, decision: r.decision, reasons: r.reasons,
    errors: r.errors, obligations: r.obligations, message: r.message, policy_set_version: r.policySetVersion, caller: r.caller, request_id: r.requestId,
    evaluation_micros: r.evaluationMicros, request: r.request, stream: r.stream, seq: r.seq, prev_hash: r.prevHash, hash: r.hash, identity: r.identity,
    credential_jti: r.credentialJti,
  };
}

describe("defect 6: rows written before migration 0006 still verify after it", () => {
  it("version-1 hashes, a legacy head and a legacy stream's unsigned pruning verify; a new writer's head lists them as legacy", async () => {
    // The migrations as they were before 0006.
    const dir = mkdtempSync(join(tmpdir(), "verdict-upgrade-"));
    const folder = join(dir, "migrations");
    cpSync(join(ROOT, "migrations"), folder, { recursive: true });
    const journalFile = join(folder, "meta", "_journal.json");
    const journal = JSON.parse(readFileSync(journalFile, "utf8")) as { entries: { tag: string }[] };
    const upgrade = journal.entries.findIndex((e) => e.tag.startsWith("0006_"));
    expect(upgrade).toBe(6);
    journal.entries = journal.entries.slice(0, upgrade);
    writeFileSync(journalFile, JSON.stringify(journal));

    const pgDb = usingPostgres ? await createPostgresDatabase() : undefined;
    const dataDir = join(dir, "data");
    const writeLegacy = async (db: Db) => {
      const keys = await SigningKeys.open(db);
      const signedStream = uuidv7();
      const prunedStream = uuidv7();
      const signed = legacyChain(signedStream, 3);
      // seq 1-2 of the second stream were dropped by the old retention: only streams.pruned_* says so.
      const prunedHash = "d".repeat(64);
      const pruned = legacyChain(prunedStream, 2, 3, prunedHash);
      for (const [id, prunedSeq, hash] of [[signedStream, null, null], [prunedStream, 2, prunedHash]] as const) {
        await db.execute(sql`INSERT INTO streams (id, started_at, host, pid, pruned_seq, pruned_hash) VALUES (${id}::uuid, now(), 'old-host', 1, ${prunedSeq}, ${hash})`);
      }
      const json = JSON.stringify([...signed, ...pruned].map(legacyRow));
      await db.execute(sql`INSERT INTO decisions (${sql.raw(LEGACY_COLUMNS.map((c) => `"${c}"`).join(", "))}) SELECT ${sql.raw(LEGACY_COLUMNS.map((c) => `"${c}"`).join(", "))} FROM jsonb_populate_recordset(NULL::decisions, ${json}::jsonb)`);
      const head = signed[2]!;
      const jwt = await keys.signJwt({ stream: signedStream, seq: 3, hash: head.hash }, { typ: "verdict-chain-head+jwt" });
      await db.execute(sql`INSERT INTO chain_checkpoints (stream, seq, hash, jwt, time) VALUES (${signedStream}::uuid, 3, ${head.hash}, ${jwt}, now())`);
      return { signedStream, prunedStream };
    };

    let ids: { signedStream: string; prunedStream: string };
    if (pgDb) {
      const { drizzle } = await import("drizzle-orm/node-postgres");
      const { migrate } = await import("drizzle-orm/node-postgres/migrator");
      const client = new pg.Client({ connectionString: pgDb.url });
      await client.connect();
      const db = drizzle(client);
      await migrate(db, { migrationsFolder: folder });
      ids = await writeLegacy(db as unknown as Db);
      await client.end();
    } else {
      const [{ PGlite }, { pg_trgm }, { drizzle }, { migrate }] = await Promise.all([
        import("@electric-sql/pglite"),
        import("@electric-sql/pglite/contrib/pg_trgm"),
        import("drizzle-orm/pglite"),
        import("drizzle-orm/pglite/migrator"),
      ]);
      const client = new PGlite(dataDir, { extensions: { pg_trgm } });
      const db = drizzle(client);
      await migrate(db, { migrationsFolder: folder });
      ids = await writeLegacy(db as unknown as Db);
      await client.close();
    }

    // Now the current code, which applies 0006 on open.
    const database = await openDatabase({ url: pgDb?.url, dataDir });
    try {
      const db = database.db;
      const before = await verifyChains(db);
      expect(before.reports.map((r) => r.problem)).toEqual([null, null]);
      const byStream = Object.fromEntries(before.reports.map((r) => [r.stream, r]));
      expect(byStream[ids.signedStream]).toMatchObject({ ok: true, version: 1, records: 3, checkpoint: { seq: 3, valid: true } });
      expect(byStream[ids.prunedStream]).toMatchObject({ ok: true, version: 1, prunedThrough: 2, prunedSigned: false, firstSeq: 3, lastSeq: 4 });

      // A writer of the new code: its stream is version 2, and its first head lists the legacy ones as such.
      const log = new DecisionLog(database, { logger: quiet });
      await read(log, 0, 0);
      await new ChainCheckpointer(db, log, await SigningKeys.open(db)).stop();
      await log.close();
      const [head] = await db.select().from(chainCheckpoints).where(eq(chainCheckpoints.stream, log.streamId));
      expect((decodeJwt(head!.jwt) as unknown as HeadClaims).streams).toEqual(
        expect.arrayContaining([
          [ids.signedStream, 3, 1],
          [ids.prunedStream, 2, 1],
        ]),
      );
      const after = await verifyChains(db);
      expect(after.reports.map((r) => [r.stream, r.ok, r.version])).toEqual(
        expect.arrayContaining([
          [ids.signedStream, true, 1],
          [ids.prunedStream, true, 1],
          [log.streamId, true, 2],
        ]),
      );
      expect(after.ok).toBe(true);
    } finally {
      await database.close();
      await pgDb?.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
