/**
 * The integrity check of the decision record. Each writer's stream is a hash chain (see
 * `decisions/record.ts`); this walks every stream by `seq` and names the first broken link:
 *
 * - `altered`: the stored hash is not the hash of the record as stored (a field was changed,
 *   or the record was moved to another seq);
 * - `missing`: a seq is absent (a record was deleted);
 * - `link`: the record's `prevHash` is not the hash of the record before it (records were
 *   reordered, or one was replaced by a record with a valid hash of its own);
 * - `truncated`: a signed chain head (`chain_checkpoints`) names a seq beyond the last record;
 * - `checkpoint`: a signed head whose signature does not verify, or whose hash differs from the
 *   record at its seq.
 *
 * Signatures are checked against every public key in `signing_keys`, retired or not: a key's
 * retirement ends its signing, not the validity of what it signed.
 */
import { and, asc, desc, eq, gt, sql } from "drizzle-orm";
import { importJWK, jwtVerify, type JWK } from "jose";
import type { Db } from "../db/client.js";
import { chainCheckpoints } from "../db/audit-schema.js";
import { signingKeys } from "../db/keys-schema.js";
import { decisions, streams } from "../db/schema.js";
import type { DecisionRecord } from "../contract/wire.js";
import { rowsOf } from "../decisions/partitions.js";
import { fromRow } from "../decisions/query.js";
import { recordHash } from "../decisions/record.js";
import { SIGNING_ALG } from "../keys/signing-keys.js";
import { CHAIN_HEAD_TYP, type ChainHeadClaims } from "./checkpoints.js";

/** The first broken link of a stream. */
export interface ChainProblem {
  kind: "altered" | "missing" | "link" | "truncated" | "checkpoint";
  /** The seq where the chain breaks (for `missing` and `truncated`: the first absent seq). */
  seq: number;
  /** The decision found at (or right after) that seq, when there is one. */
  decisionId: string | null;
  message: string;
}

/** What the verifier found in one stream. */
export interface StreamReport {
  stream: string;
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** Seqs removed by retention (partitions dropped); the chain is checked from the next one. */
  prunedThrough: number | null;
  /** The newest signed head, if any. */
  checkpoint: { seq: number; time: string; valid: boolean } | null;
  /** Records after the newest signed head: not yet protected against truncation. */
  unsignedRecords: number;
  ok: boolean;
  problem: ChainProblem | null;
}

/** `GET /v1/audit/verify` answer. */
export interface VerifyReport {
  ok: boolean;
  checkedAt: string;
  streams: number;
  records: number;
  /** Every stream with a problem, and (unless `brokenOnly`) every intact one. */
  reports: StreamReport[];
}

type Verifier = (jwt: string) => Promise<ChainHeadClaims | null>;

/** A function that checks a chain-head JWT against every key in `signing_keys`; null when it does not verify. */
export async function chainHeadVerifier(db: Db): Promise<Verifier> {
  const keys = new Map<string, Awaited<ReturnType<typeof importJWK>>>();
  for (const k of await db.select({ kid: signingKeys.kid, jwk: signingKeys.publicJwk }).from(signingKeys)) {
    keys.set(k.kid, await importJWK(k.jwk as JWK, SIGNING_ALG));
  }
  return async (jwt) => {
    try {
      const { payload } = await jwtVerify(
        jwt,
        (h) => {
          const key = keys.get(String(h.kid));
          if (!key) throw new Error("unknown key");
          return key;
        },
        { algorithms: [SIGNING_ALG], typ: CHAIN_HEAD_TYP },
      );
      return { stream: String(payload.stream), seq: Number(payload.seq), hash: String(payload.hash) };
    } catch {
      return null;
    }
  };
}

/** Whether a record's stored hash is the hash of its content. */
export function hashMatches(r: DecisionRecord): boolean {
  const { hash, ...rest } = r;
  return recordHash(rest) === hash;
}

/** Every stream id: registered in `streams`, present in `decisions`, or named by a checkpoint. */
async function streamIds(db: Db): Promise<string[]> {
  const res = await db.execute(sql`
    SELECT id::text AS id FROM streams
    UNION SELECT DISTINCT stream::text FROM decisions
    UNION SELECT DISTINCT stream::text FROM chain_checkpoints
    ORDER BY 1`);
  return rowsOf<{ id: string }>(res).map((r) => r.id);
}

/**
 * Walks one stream's chain.
 * @param pageSize records read per query (memory stays at one page)
 */
export async function verifyStream(db: Db, stream: string, verify: Verifier, pageSize = 1000): Promise<StreamReport> {
  const [info] = await db.select({ prunedSeq: streams.prunedSeq, prunedHash: streams.prunedHash }).from(streams).where(eq(streams.id, stream));
  const prunedThrough = info?.prunedSeq ?? null;
  const report: StreamReport = { stream, records: 0, firstSeq: null, lastSeq: null, prunedThrough, checkpoint: null, unsignedRecords: 0, ok: true, problem: null };
  const fail = (p: ChainProblem) => {
    report.ok = false;
    report.problem ??= p;
  };

  let expectedSeq = (prunedThrough ?? 0) + 1;
  let expectedPrev: string | null = info?.prunedHash ?? null;
  let after = prunedThrough ?? 0;
  walk: for (;;) {
    const rows = await db
      .select()
      .from(decisions)
      .where(and(eq(decisions.stream, stream), gt(decisions.seq, after)))
      .orderBy(asc(decisions.seq))
      .limit(pageSize);
    for (const row of rows) {
      const r = fromRow(row);
      report.records++;
      report.firstSeq ??= r.seq;
      report.lastSeq = r.seq;
      after = r.seq;
      if (r.seq !== expectedSeq) {
        const gap = r.seq - expectedSeq;
        fail({
          kind: "missing",
          seq: expectedSeq,
          decisionId: r.id,
          message: `${gap === 1 ? `the record at seq ${expectedSeq} is` : `records at seq ${expectedSeq} to ${r.seq - 1} are`} missing (deleted) before decision ${r.id} at seq ${r.seq}`,
        });
        break walk;
      }
      if (!hashMatches(r)) {
        fail({ kind: "altered", seq: r.seq, decisionId: r.id, message: `decision ${r.id} at seq ${r.seq} does not match its hash: it was changed, or moved from another seq, after it was written` });
        break walk;
      }
      if (r.prevHash !== expectedPrev) {
        fail({ kind: "link", seq: r.seq, decisionId: r.id, message: `decision ${r.id} at seq ${r.seq} does not follow the record before it (prevHash differs): records were reordered or replaced` });
        break walk;
      }
      expectedSeq = r.seq + 1;
      expectedPrev = r.hash;
    }
    if (rows.length < pageSize) break;
  }

  const [cp] = await db.select().from(chainCheckpoints).where(eq(chainCheckpoints.stream, stream)).orderBy(desc(chainCheckpoints.seq)).limit(1);
  if (cp) {
    const claims = await verify(cp.jwt);
    const valid = claims !== null && claims.stream === stream && claims.seq === cp.seq && claims.hash === cp.hash;
    report.checkpoint = { seq: cp.seq, time: cp.time.toISOString(), valid };
    if (!valid) {
      fail({ kind: "checkpoint", seq: cp.seq, decisionId: null, message: `the signed chain head at seq ${cp.seq} (${cp.time.toISOString()}) does not verify with Verdict's keys` });
    } else if (report.ok && (report.lastSeq ?? prunedThrough ?? 0) < cp.seq) {
      const from = (report.lastSeq ?? prunedThrough ?? 0) + 1;
      fail({
        kind: "truncated",
        seq: from,
        decisionId: null,
        message: `records at seq ${from} to ${cp.seq} are missing at the end of the stream: a chain head signed at ${cp.time.toISOString()} names seq ${cp.seq}`,
      });
    } else if (report.ok && cp.seq > (prunedThrough ?? 0)) {
      const [at] = await db.select({ id: decisions.id, hash: decisions.hash }).from(decisions).where(and(eq(decisions.stream, stream), eq(decisions.seq, cp.seq)));
      if (at?.hash !== cp.hash) {
        fail({ kind: "checkpoint", seq: cp.seq, decisionId: at?.id ?? null, message: `the record at seq ${cp.seq} is not the one whose hash was signed at ${cp.time.toISOString()}` });
      }
    }
    report.unsignedRecords = Math.max(0, (report.lastSeq ?? 0) - cp.seq);
  } else {
    report.unsignedRecords = report.records;
  }
  return report;
}

/**
 * Verifies every stream (or one).
 * @param opts.brokenOnly list only the streams with a problem (the counts cover all)
 */
export async function verifyChains(db: Db, opts: { stream?: string; brokenOnly?: boolean } = {}): Promise<VerifyReport> {
  const verify = await chainHeadVerifier(db);
  const ids = opts.stream ? [opts.stream] : await streamIds(db);
  const reports: StreamReport[] = [];
  let records = 0;
  let ok = true;
  for (const id of ids) {
    const r = await verifyStream(db, id, verify);
    records += r.records;
    ok &&= r.ok;
    if (!opts.brokenOnly || !r.ok) reports.push(r);
  }
  return { ok, checkedAt: new Date().toISOString(), streams: ids.length, records, reports };
}

/** The chain status of one decision, for the explorer's detail view. */
export interface DecisionChainStatus {
  /** The stored hash is the hash of the record. */
  hashOk: boolean;
  /** The record before it in its stream carries the hash this one names as `prevHash`. */
  prevOk: boolean;
  /** The record after it names this one's hash (true when this is the stream's last record). */
  nextOk: boolean;
  /** A valid signed chain head at or after this seq. */
  signed: boolean;
}

/** Checks one decision's links to its neighbours and whether a signed head covers it. */
export async function decisionChainStatus(db: Db, r: DecisionRecord): Promise<DecisionChainStatus> {
  const neighbour = async (seq: number) =>
    (await db.select({ hash: decisions.hash, prevHash: decisions.prevHash }).from(decisions).where(and(eq(decisions.stream, r.stream), eq(decisions.seq, seq))))[0];
  const [info] = await db.select({ prunedSeq: streams.prunedSeq, prunedHash: streams.prunedHash }).from(streams).where(eq(streams.id, r.stream));
  let prevOk: boolean;
  if (r.seq === 1) prevOk = r.prevHash === null;
  else if (info?.prunedSeq === r.seq - 1) prevOk = r.prevHash === info.prunedHash;
  else prevOk = (await neighbour(r.seq - 1))?.hash === r.prevHash;
  const next = await neighbour(r.seq + 1);
  const verify = await chainHeadVerifier(db);
  const [cp] = await db.select().from(chainCheckpoints).where(eq(chainCheckpoints.stream, r.stream)).orderBy(desc(chainCheckpoints.seq)).limit(1);
  const signed = cp !== undefined && cp.seq >= r.seq && (await verify(cp.jwt))?.hash === cp.hash;
  return { hashOk: hashMatches(r), prevOk, nextOk: next === undefined || next.prevHash === r.hash, signed };
}
