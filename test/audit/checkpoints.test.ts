/**
 * Signed chain heads (src/audit/checkpoints.ts) and where their key lives (issue 11, defect 6):
 * the unsigned window is at most 5 s or 1,000 records, a checkpoint is written that often under
 * load, heads name their predecessor and the other streams, and a key held outside the database
 * makes a head forged with a key planted in `signing_keys` fail verification.
 */
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asc, eq, sql } from "drizzle-orm";
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from "jose";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChainCheckpointer } from "../../src/audit/checkpoints.js";
import type { HeadClaims } from "../../src/decision-log/chain.js";
import { verifyChains } from "../../src/audit/verify.js";
import { ConfigError, loadConfig } from "../../src/config.js";
import { chainCheckpoints } from "../../src/db/audit-schema.js";
import { signingKeys } from "../../src/db/keys-schema.js";
import { DecisionLog } from "../../src/decision-log/writer.js";
import { recordHash, type DecisionRecord } from "../../src/decision-log/record.js";
import { parseSigningKey, SigningKeys } from "../../src/signing-keys/store.js";
import { startServer } from "../../src/server.js";
import { createTestApp, EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, examplePolicySet, TEST_ADMIN_KEY, type TestApp } from "../helpers/app.js";
import { createPostgresDatabase, usingPostgres } from "../helpers/db.js";
import { runCli } from "../helpers/cli.js";
import { recordToolCall } from "../helpers/decisions.js";

let t: TestApp;
let keys: SigningKeys;
const quiet = pino({ level: "silent" });
beforeAll(async () => {
  t = await createTestApp();
  keys = await SigningKeys.open(t.db.database.db);
});
afterAll(async () => {
  await t.close();
});

const record = (log: DecisionLog, i = 0) =>
  recordToolCall(log, examplePolicySet(), { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: `/srv/${i}` } });
const headsOf = (stream: string) =>
  t.db.database.db.select().from(chainCheckpoints).where(eq(chainCheckpoints.stream, stream)).orderBy(asc(chainCheckpoints.seq));

describe("defect 6: the unsigned window is at most 5 s or 1,000 records", () => {
  it("defaults to 5 s and 1,000 records, and refuses larger values", () => {
    expect(loadConfig({})).toMatchObject({ checkpointSeconds: 5, checkpointRecords: 1000 });
    expect(() => loadConfig({ VERDICT_CHECKPOINT_SECONDS: "6" })).toThrow(/VERDICT_CHECKPOINT_SECONDS/);
    expect(() => loadConfig({ VERDICT_CHECKPOINT_RECORDS: "1001" })).toThrow(/VERDICT_CHECKPOINT_RECORDS/);
    expect(loadConfig({ VERDICT_CHECKPOINT_SECONDS: "1", VERDICT_CHECKPOINT_RECORDS: "1" })).toMatchObject({ checkpointSeconds: 1, checkpointRecords: 1 });
  });

  it("never leaves more than everyRecords records unsigned: the writer holds its INSERT until the head is signed", async () => {
    const log = new DecisionLog(t.db.database, { logger: quiet });
    const cp = new ChainCheckpointer(t.db.database.db, log, keys, { intervalMs: 5_000, everyRecords: 3 });
    cp.start();
    for (let i = 0; i < 10; i++) {
      const r = await record(log, i);
      const signed = (await headsOf(log.streamId)).at(-1)?.seq ?? 0;
      expect(r.seq - signed, `after seq ${r.seq}`).toBeLessThanOrEqual(3);
    }
    await cp.stop();
    await log.close();
    const heads = await headsOf(log.streamId);
    expect(heads.at(-1)?.seq).toBe(10);
    // Each head names the one before it, and no two are more than 3 records apart.
    let prev = 0;
    for (const h of heads) {
      const claims = decodeJwt(h.jwt) as unknown as HeadClaims;
      expect(claims).toMatchObject({ v: 2, kind: "head", stream: log.streamId, seq: h.seq, hash: h.hash, prevSeq: prev, time: h.time.toISOString() });
      expect(h.seq - prev).toBeLessThanOrEqual(3);
      prev = h.seq;
    }
  });

  it("under load (3,000 concurrent decisions) writes a head at least every 1,000 records, and the chain verifies", async () => {
    const log = new DecisionLog(t.db.database, { logger: quiet });
    const cp = new ChainCheckpointer(t.db.database.db, log, keys);
    cp.start();
    const recorded = await Promise.all(Array.from({ length: 3000 }, (_, i) => record(log, i)));
    const last = Math.max(...recorded.map((r) => r.seq));
    const before = await headsOf(log.streamId);
    expect(last - (before.at(-1)?.seq ?? 0)).toBeLessThanOrEqual(1000);
    await cp.stop();
    await log.close();
    const heads = await headsOf(log.streamId);
    let prev = 0;
    for (const h of heads) {
      expect(h.seq - prev, `head at ${h.seq}`).toBeLessThanOrEqual(1000);
      prev = h.seq;
    }
    expect(prev).toBe(3000);
    const report = await verifyChains(t.db.database.db, { stream: log.streamId });
    expect(report.reports[0]).toMatchObject({ ok: true, records: 3000, unsignedRecords: 0, maxUnsigned: 1000 });
  }, 120_000);

  it("fails the INSERT (503 for its callers) rather than record beyond the bound when the head cannot be signed", async () => {
    const log = new DecisionLog(t.db.database, { logger: quiet });
    const broken = { signChainJwt: () => Promise.reject(new Error("signing unavailable")) } as unknown as SigningKeys;
    const cp = new ChainCheckpointer(t.db.database.db, log, broken, { everyRecords: 2 });
    cp.start();
    await record(log, 1);
    await record(log, 2);
    const stream = log.streamId;
    await expect(record(log, 3)).rejects.toMatchObject({ name: "RecordError", reason: "unavailable" });
    expect(cp.stats).toMatchObject({ heads: 0 });
    expect(cp.stats.failures).toBeGreaterThanOrEqual(3);
    await cp.stop().catch(() => undefined);
    await log.close();
    const stored = await t.db.database.db.execute(sql`SELECT count(*)::int AS n FROM decisions WHERE stream = ${stream}::uuid`);
    expect((stored as unknown as { rows: { n: number }[] }).rows[0]!.n).toBe(2);
    expect(log.streamId).not.toBe(stream); // the writer ended that stream, as after any failed write
  });

  it("deleting the newest heads of a stream no other stream lists is caught: more records follow its newest head than its writer leaves unsigned", async () => {
    const log = new DecisionLog(t.db.database, { logger: quiet, maxBatch: 2 });
    const cp = new ChainCheckpointer(t.db.database.db, log, keys, { everyRecords: 3 });
    cp.start();
    for (let i = 0; i < 10; i++) await record(log, i);
    await cp.stop();
    await log.close();
    const heads = await headsOf(log.streamId);
    expect((decodeJwt(heads[0]!.jwt) as unknown as HeadClaims).maxUnsigned).toBe(3);
    expect((await verifyChains(t.db.database.db, { stream: log.streamId })).ok).toBe(true);
    await t.db.database.db.execute(sql`DELETE FROM chain_checkpoints WHERE stream = ${log.streamId}::uuid AND seq > ${heads[0]!.seq}`);
    const report = (await verifyChains(t.db.database.db, { stream: log.streamId })).reports[0]!;
    expect(report).toMatchObject({ ok: false, unsignedRecords: 10 - heads[0]!.seq, maxUnsigned: 3 });
    expect(report.problem).toMatchObject({ kind: "checkpoint", seq: heads[0]!.seq + 1 });
  });

  it("signs a committed record on the timer before it is intervalMs old", async () => {
    let now = 1_000_000;
    const log = new DecisionLog(t.db.database, { logger: quiet });
    const cp = new ChainCheckpointer(t.db.database.db, log, keys, { intervalMs: 5_000, now: () => now });
    cp.start();
    await record(log);
    now += 3_000;
    expect(cp.tick()).toBeNull();
    expect(await headsOf(log.streamId)).toHaveLength(0);
    // The tick is every second: at 4 s the record would be over 5 s old at the next one.
    now += 1_000;
    await cp.tick();
    await expect.poll(async () => (await headsOf(log.streamId)).length, { timeout: 60_000 }).toBe(1);
    await cp.stop();
    await log.close();
  });

  it("a stream listed before its first head (seq 0) whose records are then all deleted is caught", async () => {
    const unsigned = new DecisionLog(t.db.database, { logger: quiet });
    await record(unsigned);
    await unsigned.close(); // a crash before its first head: one unsigned record, within the window
    const later = new DecisionLog(t.db.database, { logger: quiet });
    await record(later);
    await new ChainCheckpointer(t.db.database.db, later, keys).stop();
    await later.close();
    const [head] = await headsOf(later.streamId);
    expect((decodeJwt(head!.jwt) as unknown as HeadClaims).streams).toContainEqual([unsigned.streamId, 0, 2]);
    expect((await verifyChains(t.db.database.db, { stream: unsigned.streamId })).ok).toBe(true);
    await t.db.database.db.execute(sql`DELETE FROM decisions WHERE stream = ${unsigned.streamId}::uuid`);
    expect((await verifyChains(t.db.database.db, { stream: unsigned.streamId })).reports[0]!.problem).toMatchObject({ kind: "missing", seq: 1 });
    await t.db.database.db.execute(sql`DELETE FROM streams WHERE id = ${unsigned.streamId}::uuid`);
    expect((await verifyChains(t.db.database.db, { stream: unsigned.streamId })).reports[0]!.problem).toMatchObject({ kind: "stream", seq: 1 });
  });

  it("a head lists the other streams with the seq signed for each and their version", async () => {
    const first = new DecisionLog(t.db.database, { logger: quiet });
    await record(first);
    await record(first);
    await new ChainCheckpointer(t.db.database.db, first, keys).stop();
    await first.close();
    const second = new DecisionLog(t.db.database, { logger: quiet });
    await record(second);
    await new ChainCheckpointer(t.db.database.db, second, keys).stop();
    await second.close();
    const [head] = await headsOf(second.streamId);
    const claims = decodeJwt(head!.jwt) as unknown as HeadClaims;
    expect(claims.streams).toContainEqual([first.streamId, 2, 2]);
    expect(claims.registration).toMatchObject({ pid: process.pid });
  });
});

/** A stream of `n` decisions signed by `signer`'s checkpointer. */
async function signedStream(signer: SigningKeys, n: number): Promise<{ stream: string; records: DecisionRecord[] }> {
  const log = new DecisionLog(t.db.database, { logger: quiet });
  const records: DecisionRecord[] = [];
  for (let i = 0; i < n; i++) records.push(await record(log, i));
  await new ChainCheckpointer(t.db.database.db, log, signer).stop();
  await log.close();
  return { stream: log.streamId, records };
}

describe("defect 6: signing keys can live outside the database", () => {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  const external = parseSigningKey(pem);

  it("reads VERDICT_SIGNING_KEY (PEM or JWK) or VERDICT_SIGNING_KEY_FILE, and VERDICT_VERIFY_KEYS_FILE; errors name the variable, never the key", () => {
    const dir = mkdtempSync(join(tmpdir(), "verdict-keys-"));
    try {
      const jwk = JSON.stringify(privateKey.export({ format: "jwk" }));
      expect(loadConfig({ VERDICT_SIGNING_KEY: pem }).signingKey?.kid).toBe(external.kid);
      expect(loadConfig({ VERDICT_SIGNING_KEY: jwk }).signingKey?.kid).toBe(external.kid);
      writeFileSync(join(dir, "key.pem"), pem);
      writeFileSync(join(dir, "public.jwks"), JSON.stringify({ keys: [external.publicJwk] }));
      const config = loadConfig({ VERDICT_SIGNING_KEY_FILE: join(dir, "key.pem"), VERDICT_VERIFY_KEYS_FILE: join(dir, "public.jwks") });
      expect(config.signingKey?.kid).toBe(external.kid);
      expect(config.verifyKeys?.map((k) => k.kid)).toEqual([external.kid]);
      expect(config.verifyKeys?.[0]).not.toHaveProperty("d");

      expect(() => loadConfig({ VERDICT_SIGNING_KEY: pem, VERDICT_SIGNING_KEY_FILE: join(dir, "key.pem") })).toThrow(ConfigError);
      const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey.export({ format: "pem", type: "pkcs8" }) as string;
      for (const bad of [p384, "not a key", JSON.stringify(external.publicJwk)]) {
        let message = "";
        try {
          loadConfig({ VERDICT_SIGNING_KEY: bad });
        } catch (e) {
          message = (e as Error).message;
        }
        expect(message).toMatch(/^invalid configuration: VERDICT_SIGNING_KEY: /);
        expect(message).not.toContain("PRIVATE KEY");
        expect(message).not.toContain(external.publicJwk.x!);
      }
      expect(() => loadConfig({ VERDICT_SIGNING_KEY_FILE: join(dir, "absent.pem") })).toThrow(/VERDICT_SIGNING_KEY_FILE: cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("heads are signed with the external key; a head forged with a key planted in signing_keys passes only the database trust", async () => {
    const signer = await SigningKeys.open(t.db.database.db, { chainKey: external });
    expect(signer.chainTrust()).toEqual({ source: "config", keys: [external.publicJwk] });
    const { stream, records } = await signedStream(signer, 3);
    const [head] = await headsOf(stream);
    expect(decodeProtectedHeader(head!.jwt).kid).toBe(external.kid);
    expect((await verifyChains(t.db.database.db, { stream, trust: signer.chainTrust() })).ok).toBe(true);

    // A database administrator rewrites seq 2..3 with recomputed hashes and signs a new head with a key of their own.
    const db = t.db.database.db;
    const forger = await generateKeyPair("ES256", { extractable: true });
    const kid = "planted";
    await db.insert(signingKeys).values({
      kid,
      alg: "ES256",
      publicJwk: { ...(await exportJWK(forger.publicKey)), kid, alg: "ES256" },
      privateJwk: { ...(await exportJWK(forger.privateKey)), kid, alg: "ES256" },
      createdAt: new Date(),
    });
    let prev = records[0]!.hash;
    for (const r of records.slice(1)) {
      const { hash: _old, ...rest } = { ...r, prevHash: prev, decision: "deny" as const };
      const hash = recordHash(rest);
      await db.execute(sql`UPDATE decisions SET decision = 'deny', prev_hash = ${prev}, hash = ${hash} WHERE stream = ${stream}::uuid AND seq = ${r.seq}`);
      prev = hash;
    }
    const claims = { ...(decodeJwt(head!.jwt) as Record<string, unknown>), hash: prev };
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid, typ: "verdict-chain-head+jwt" }).sign(forger.privateKey);
    await db.execute(sql`UPDATE chain_checkpoints SET hash = ${prev}, jwt = ${forged} WHERE stream = ${stream}::uuid AND seq = 3`);

    // Weaker mode, as documented: keys in the database vouch for whatever was signed with them.
    expect((await verifyChains(db, { stream })).ok).toBe(true);
    const report = await verifyChains(db, { stream, trust: signer.chainTrust() });
    expect(report.reports[0]!.problem).toMatchObject({ kind: "checkpoint", seq: 3 });
    expect(report.trust).toEqual({ source: "config", kids: [external.kid] });
    await db.delete(signingKeys).where(eq(signingKeys.kid, kid));
  });

  it("a server started with VERDICT_SIGNING_KEY signs its heads with it, and GET /v1/audit/verify trusts only that key", async () => {
    const pgDb = usingPostgres ? await createPostgresDatabase() : undefined;
    const dir = mkdtempSync(join(tmpdir(), "verdict-key-server-"));
    const server = await startServer(
      loadConfig({
        PORT: "0",
        ...(pgDb ? { DATABASE_URL: pgDb.url } : { VERDICT_DATA_DIR: join(dir, "data") }),
        VERDICT_POLICY_DIR: EXAMPLE_POLICY_DIR,
        VERDICT_SCHEMA_DIR: EXAMPLE_SCHEMA_DIR,
        VERDICT_ADMIN_KEY: TEST_ADMIN_KEY,
        VERDICT_LOG_LEVEL: "silent",
        VERDICT_SIGNING_KEY: pem,
      }),
      quiet,
    );
    try {
      const headers = { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_KEY}` };
      const res = await fetch(`${server.url}/v1/mcp/tools/call`, {
        method: "POST",
        headers,
        body: JSON.stringify({ agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/a.md" } }),
      });
      expect(res.status).toBe(200);
      await server.checkpointer.checkpoint();
      const [head] = await server.database.db.select().from(chainCheckpoints);
      expect(decodeProtectedHeader(head!.jwt).kid).toBe(external.kid);
      const report = (await (await fetch(`${server.url}/v1/audit/verify`, { headers })).json()) as { ok: boolean; trust: unknown };
      expect(report).toMatchObject({ ok: true, trust: { source: "config", kids: [external.kid] } });
      await server.stop();

      // `verdict audit verify` on the database: an auditor holding only the public key verifies it;
      // with no key configured, the database's keys are trusted, and they did not sign these heads.
      writeFileSync(join(dir, "public.pem"), createPublicKey(privateKey).export({ format: "pem", type: "spki" }) as string);
      const env: Record<string, string> = pgDb ? { DATABASE_URL: pgDb.url } : { VERDICT_DATA_DIR: join(dir, "data"), DATABASE_URL: "" };
      const audited = await runCli(["audit", "verify", "--json"], { env: { ...env, VERDICT_VERIFY_KEYS_FILE: join(dir, "public.pem") } });
      expect(audited.code, audited.stderr).toBe(0);
      expect(JSON.parse(audited.stdout)).toMatchObject({ ok: true, trust: { source: "config", kids: [external.kid] } });
      const untrusted = await runCli(["audit", "verify", "--json"], { env });
      expect(untrusted.code).toBe(1);
      expect(JSON.parse(untrusted.stdout)).toMatchObject({ ok: false, trust: { source: "database" } });
    } finally {
      await server.stop();
      await pgDb?.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
