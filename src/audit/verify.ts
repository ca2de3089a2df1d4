/**
 * The integrity check of the decision record (docs/tamper-evidence.md). Each writer's stream is
 * a hash chain (see `decision-log/record.ts`) with signed checkpoints (`audit/checkpoints.ts`).
 * The verifier checks, per stream, and names every problem it finds (the first by seq is the
 * stream's `problem`):
 *
 * - `altered`: a record's stored hash is not the hash of the record as stored (a field was
 *   changed, or the record was moved to another seq), or a stored copy of a hashed field
 *   (`task_id`) differs from it, or `time` has digits the record does not (sub-millisecond);
 * - `missing`: a seq is absent (a record was deleted), or a registered stream has no records;
 * - `link`: the record's `prevHash` is not the hash of the record before it (records were
 *   reordered, or one was replaced by a record with a valid hash of its own);
 * - `truncated`: a signed head (the stream's own, or another stream's listing of it) names a seq
 *   beyond the last record;
 * - `checkpoint`: a signed head does not verify, differs from its row, names a predecessor head
 *   that is gone, or signs a hash that is not the record's at its seq; or more records follow
 *   the newest signed head than its writer ever leaves unsigned (heads were deleted);
 * - `retention`: `streams.pruned_seq`/`pruned_hash` say records were removed by retention, and no
 *   retention checkpoint signed by a trusted key says so (or it says otherwise);
 * - `stream`: the stream's `streams` row is missing, or differs from what its signed heads say
 *   (registration, format version), or a stream claims the legacy format no signed head knew.
 *
 * Every checkpoint is checked, not only the newest. Signatures are checked against the keys of
 * the {@link ChainTrust}: the configured public keys, or every key in `signing_keys`, retired or
 * not (a key's retirement ends its signing, not the validity of what it signed).
 */
import { and, asc, eq, gt, sql } from "drizzle-orm";
import { importJWK, jwtVerify, type JWK, type JWTPayload } from "jose";
import type { Db } from "../db/client.js";
import { chainCheckpoints } from "../db/audit-schema.js";
import { signingKeys } from "../db/keys-schema.js";
import { decisions, streams } from "../db/schema.js";
import type { DecisionRecord } from "../contract/decision-log.js";
import { rowsOf } from "../decision-log/partitions.js";
import { fromRow } from "../decision-log/row.js";
import { recordHash } from "../decision-log/record.js";
import { SIGNING_ALG, type ChainTrust } from "../signing-keys/store.js";
import { CHAIN_HEAD_TYP, CHAIN_RETENTION_TYP, type ListedStream, type StreamRegistration } from "../decision-log/chain.js";
import { MAX_UNSIGNED_RECORDS } from "./checkpoints.js";

/** A problem found in a stream. */
export interface ChainProblem {
  kind: "altered" | "missing" | "link" | "truncated" | "checkpoint" | "retention" | "stream";
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
  /** Whether `prunedThrough` is signed (a retention checkpoint); false: a legacy stream's unsigned `pruned_seq`. */
  prunedSigned: boolean | null;
  /** The stream's format (`streams.chain_version`): 1 legacy (before migration 0006), 2 since. */
  version: number | null;
  /** The newest signed head, if any. */
  checkpoint: { seq: number; time: string; valid: boolean } | null;
  /** Signed heads of this stream checked. */
  heads: number;
  /** Records after the newest valid signed head: not yet protected against truncation. */
  unsignedRecords: number;
  /** The most records its writer leaves unsigned (from its newest head), null for a legacy stream. */
  maxUnsigned: number | null;
  ok: boolean;
  /** The first problem by seq. */
  problem: ChainProblem | null;
  /** Every problem found (the walk of the records stops at its first). */
  problems: ChainProblem[];
}

/** `GET /v1/audit/verify` answer. */
export interface VerifyReport {
  ok: boolean;
  checkedAt: string;
  streams: number;
  records: number;
  /** Whose keys were trusted: the configured ones (with their key ids) or the database's. */
  trust: { source: ChainTrust["source"]; kids: string[] };
  /** Every stream with a problem, and (unless `brokenOnly`) every intact one. */
  reports: StreamReport[];
}

/** Checks a checkpoint JWT (of `typ`, default a chain head); its claims, or null when it does not verify. */
export type Verifier = ((jwt: string, typ?: string) => Promise<JWTPayload | null>) & { trust?: VerifyReport["trust"] };

type Key = Awaited<ReturnType<typeof importJWK>>;

/**
 * A function that checks a checkpoint JWT against the trusted keys (default: every key in
 * `signing_keys`); null when it does not verify.
 */
export async function chainHeadVerifier(db: Db, trust: ChainTrust = { source: "database" }): Promise<Verifier> {
  const keys: Array<{ kid: string; key: Key }> = [];
  const jwks: JWK[] = trust.source === "config" ? trust.keys : (await db.select({ jwk: signingKeys.publicJwk }).from(signingKeys)).map((k) => k.jwk as JWK);
  for (const jwk of jwks) keys.push({ kid: String(jwk.kid), key: await importJWK(jwk, SIGNING_ALG) });
  const verifier: Verifier = async (jwt, typ = CHAIN_HEAD_TYP) => {
    let kid: string | undefined;
    try {
      kid = (JSON.parse(Buffer.from(jwt.split(".")[0] ?? "", "base64url").toString("utf8")) as { kid?: unknown }).kid as string | undefined;
    } catch {
      return null;
    }
    // By kid; a configured key given as PEM has its thumbprint as kid, so with none matching, try each configured key.
    const byKid = keys.filter((k) => k.kid === kid);
    const candidates = byKid.length ? byKid : trust.source === "config" ? keys : [];
    for (const { key } of candidates) {
      try {
        return (await jwtVerify(jwt, key, { algorithms: [SIGNING_ALG], typ })).payload;
      } catch {
        // next candidate
      }
    }
    return null;
  };
  verifier.trust = { source: trust.source, kids: keys.map((k) => k.kid) };
  return verifier;
}

/** Whether a record's stored hash is the hash of its content under hash `version`. */
export function hashMatches(r: DecisionRecord, version = 1): boolean {
  const { hash, ...rest } = r;
  try {
    return recordHash(rest, version) === hash;
  } catch {
    return false;
  }
}

/** Kinds in the order a tie on seq is reported. */
const KIND_RANK: Record<ChainProblem["kind"], number> = { missing: 0, altered: 0, link: 0, truncated: 1, retention: 2, checkpoint: 3, stream: 4 };

/** What the checkpoint passes learn about one stream before its records are walked. */
interface StreamEvidence {
  row: typeof streams.$inferSelect | null;
  problems: ChainProblem[];
  /** Signed retention: the newest valid retention checkpoint. */
  pruned: { seq: number; hash: string } | null;
  prunedThrough: number | null;
  prunedHash: string | null;
  prunedSigned: boolean | null;
  heads: number;
  newestHead: { seq: number; time: string; valid: boolean } | null;
  newestValid: { seq: number; maxUnsigned: number | null; registration: StreamRegistration | null } | null;
  lastValidSeq: number | null;
  v2Heads: boolean;
  /** The highest seq a valid head (own or another stream's listing) vouches for. */
  required: { seq: number; by: string } | null;
  /** The highest seq another stream's valid head lists this stream as signed through. */
  listed: { seq: number; by: string } | null;
  listedVersions: Set<number>;
}

function evidence(row: StreamEvidence["row"]): StreamEvidence {
  return {
    row,
    problems: [],
    pruned: null,
    prunedThrough: null,
    prunedHash: null,
    prunedSigned: null,
    heads: 0,
    newestHead: null,
    newestValid: null,
    lastValidSeq: null,
    v2Heads: false,
    required: null,
    listed: null,
    listedVersions: new Set(),
  };
}

function requireSeq(e: StreamEvidence, seq: number, by: string): void {
  if (!e.required || e.required.seq < seq) e.required = { seq, by };
}

interface CheckpointRow {
  stream: string;
  seq: number;
  hash: string;
  jwt: string;
  time: Date;
  recordId: string | null;
  recordHash: string | null;
}

const PAGE = 1000;

/** Reads checkpoints of `kind` in (stream, seq) order, a page at a time, with the hash of the record at each seq. */
async function* checkpointPages(db: Db, kind: "head" | "retention", only?: string): AsyncGenerator<CheckpointRow[]> {
  let after: [string, number] = ["00000000-0000-0000-0000-000000000000", -1];
  for (;;) {
    const res = await db.execute(sql`
      SELECT c.stream::text AS stream, c.seq, c.hash, c.jwt, c.time, d.id::text AS record_id, d.hash AS record_hash
        FROM ${chainCheckpoints} c
        LEFT JOIN LATERAL (SELECT x.id, x.hash FROM ${decisions} x WHERE x.stream = c.stream AND x.seq = c.seq ORDER BY x.id LIMIT 1) d ON true
       WHERE c.kind = ${kind} AND (c.stream, c.kind, c.seq) > (${after[0]}::uuid, ${kind}, ${after[1]})
         ${only ? sql`AND c.stream = ${only}::uuid` : sql``}
       ORDER BY c.stream, c.kind, c.seq
       LIMIT ${PAGE}`);
    const rows = rowsOf<{ stream: string; seq: string | number; hash: string; jwt: string; time: Date | string; record_id: string | null; record_hash: string | null }>(res).map(
      (r): CheckpointRow => ({
        stream: r.stream,
        seq: Number(r.seq),
        hash: r.hash,
        jwt: r.jwt,
        time: r.time instanceof Date ? r.time : new Date(r.time),
        recordId: r.record_id,
        recordHash: r.record_hash,
      }),
    );
    if (rows.length) yield rows;
    if (rows.length < PAGE) return;
    const last = rows[rows.length - 1]!;
    after = [last.stream, last.seq];
  }
}

function claimsMatch(c: JWTPayload, row: CheckpointRow, kind: "head" | "retention"): boolean {
  if (c.stream !== row.stream || c.seq !== row.seq || c.hash !== row.hash) return false;
  // Legacy heads (before migration 0006) sign {stream, seq, hash} only.
  if (c.v === undefined) return kind === "head" && c.kind === undefined;
  return c.v === 2 && c.kind === kind && c.time === row.time.toISOString();
}

function sameRegistration(a: StreamRegistration, row: typeof streams.$inferSelect): boolean {
  return a.startedAt === row.startedAt.toISOString() && a.host === row.host && a.pid === row.pid;
}

/**
 * Checks every checkpoint, then walks every stream (or one) by seq.
 * @param pageSize records read per query (memory stays at one page)
 */
async function audit(db: Db, verify: Verifier, only: string | undefined, pageSize: number): Promise<StreamReport[]> {
  const all = new Map<string, StreamEvidence>();
  const of = (id: string) => {
    let e = all.get(id);
    if (!e) all.set(id, (e = evidence(null)));
    return e;
  };
  for (const row of await db.select().from(streams)) all.set(row.id, evidence(row));
  const problem = (e: StreamEvidence, p: ChainProblem) => e.problems.push(p);

  // 1. Retention: what was removed is what a trusted key signed, and streams.pruned_* copy it.
  for await (const page of checkpointPages(db, "retention", only)) {
    for (const row of page) {
      const e = of(row.stream);
      const c = await verify(row.jwt, CHAIN_RETENTION_TYP);
      if (!c || !claimsMatch(c, row, "retention")) {
        problem(e, { kind: "retention", seq: row.seq, decisionId: null, message: `the retention checkpoint at seq ${row.seq} (${row.time.toISOString()}) does not verify with the trusted keys, or its row differs from what was signed` });
        continue;
      }
      if (!e.pruned || e.pruned.seq < row.seq) e.pruned = { seq: row.seq, hash: row.hash };
    }
  }

  // 2. Every signed head: its signature and row, its predecessor, the record it signed, and what it lists.
  let anyV2Head = false;
  for await (const page of checkpointPages(db, "head")) {
    for (const row of page) {
      const inScope = !only || row.stream === only;
      const e = of(row.stream);
      const c = await verify(row.jwt, CHAIN_HEAD_TYP);
      const valid = c !== null && claimsMatch(c, row, "head");
      if (valid && c.v === 2) {
        anyV2Head = true;
        for (const entry of Array.isArray(c.streams) ? (c.streams as ListedStream[]) : []) {
          const [id, seq, version] = entry;
          if (typeof id !== "string") continue;
          const listed = of(id);
          const by = `the head of stream ${row.stream} signed at ${row.time.toISOString()}`;
          requireSeq(listed, Number(seq), by);
          if (!listed.listed || listed.listed.seq < Number(seq)) listed.listed = { seq: Number(seq), by };
          listed.listedVersions.add(Number(version));
        }
      }
      if (!inScope) continue;
      e.heads++;
      e.newestHead = { seq: row.seq, time: row.time.toISOString(), valid };
      if (!valid) {
        problem(e, { kind: "checkpoint", seq: row.seq, decisionId: null, message: `the signed head at seq ${row.seq} (${row.time.toISOString()}) does not verify with the trusted keys, or its row differs from what was signed` });
        continue;
      }
      if (c.v === 2) {
        e.v2Heads = true;
        const prevSeq = Number(c.prevSeq);
        const expected = e.lastValidSeq;
        // The first head left may follow one that retention removed with the records it covered.
        const follows = expected === null ? prevSeq <= (e.pruned?.seq ?? 0) : prevSeq === expected;
        if (!follows) {
          problem(e, {
            kind: "checkpoint",
            seq: row.seq,
            decisionId: null,
            message: `the signed head at seq ${row.seq} names the head at seq ${prevSeq} as its predecessor, which ${expected === null || prevSeq > expected ? "is missing: signed heads were deleted" : `is not the head before it (seq ${expected})`}`,
          });
        }
        e.newestValid = { seq: row.seq, maxUnsigned: Number(c.maxUnsigned) || null, registration: (c.registration as StreamRegistration | null) ?? null };
      } else {
        e.newestValid = { seq: row.seq, maxUnsigned: null, registration: null };
      }
      e.lastValidSeq = row.seq;
      requireSeq(e, row.seq, `its own head signed at ${row.time.toISOString()}`);
      if (row.recordHash !== null && row.seq > (e.pruned?.seq ?? 0) && row.recordHash !== row.hash) {
        problem(e, { kind: "checkpoint", seq: row.seq, decisionId: row.recordId, message: `the record at seq ${row.seq} is not the one whose hash was signed at ${row.time.toISOString()}` });
      }
    }
  }

  // The streams to walk: registered, named by a checkpoint or a listing, or present in decisions.
  if (!only) {
    const res = await db.execute(sql`SELECT DISTINCT stream::text AS id FROM ${decisions}`);
    for (const { id } of rowsOf<{ id: string }>(res)) of(id);
  } else {
    of(only);
  }
  const ids = [...all.keys()].filter((id) => !only || id === only).sort();
  const reports: StreamReport[] = [];
  for (const id of ids) reports.push(await walk(db, id, all.get(id)!, anyV2Head, pageSize));
  return reports;
}

/** Settles a stream's retention and registration, walks its records, and compares the end with what was signed. */
async function walk(db: Db, stream: string, e: StreamEvidence, anyV2Head: boolean, pageSize: number): Promise<StreamReport> {
  const problems = e.problems;
  const row = e.row;
  const version = row?.chainVersion ?? (e.v2Heads || e.listedVersions.has(2) ? 2 : null);
  const legacy = row?.chainVersion === 1 && !e.v2Heads && !e.listedVersions.has(2);

  // Retention.
  if (e.pruned) {
    e.prunedThrough = e.pruned.seq;
    e.prunedHash = e.pruned.hash;
    e.prunedSigned = true;
    if (row && (row.prunedSeq !== e.pruned.seq || row.prunedHash !== e.pruned.hash)) {
      problems.push({
        kind: "retention",
        seq: e.pruned.seq,
        decisionId: null,
        message: `streams.pruned_seq/pruned_hash (${row.prunedSeq ?? "null"}, ${row.prunedHash ?? "null"}) differ from the signed retention checkpoint (seq ${e.pruned.seq})`,
      });
    }
  } else if (row && (row.prunedSeq !== null || row.prunedHash !== null)) {
    if (legacy) {
      e.prunedThrough = row.prunedSeq;
      e.prunedHash = row.prunedHash;
      e.prunedSigned = false;
    } else {
      problems.push({
        kind: "retention",
        seq: 1,
        decisionId: null,
        message: `streams.pruned_seq says seq 1 to ${row.prunedSeq ?? "?"} were removed by retention, but no retention checkpoint signed by a trusted key says so`,
      });
    }
  }

  // Registration and format.
  const firstSeq = (e.prunedThrough ?? 0) + 1;
  if (row) {
    const reg = e.newestValid?.registration;
    if (reg && !sameRegistration(reg, row)) {
      problems.push({ kind: "stream", seq: firstSeq, decisionId: null, message: `the streams row (started ${row.startedAt.toISOString()}, host ${row.host}, pid ${row.pid}) differs from the registration its signed heads name` });
    }
    const versions = new Set([...e.listedVersions, ...(e.v2Heads ? [2] : [])]);
    versions.delete(row.chainVersion);
    if (versions.size) {
      problems.push({ kind: "stream", seq: firstSeq, decisionId: null, message: `streams.chain_version is ${row.chainVersion}, but signed heads name this stream as version ${[...versions].join(", ")}` });
    } else if (row.chainVersion === 1 && anyV2Head && !e.listedVersions.has(1)) {
      problems.push({ kind: "stream", seq: firstSeq, decisionId: null, message: "the stream claims the legacy format (chain_version 1), but no signed head lists it as a legacy stream" });
    }
  }

  // The records.
  const report: StreamReport = {
    stream,
    records: 0,
    firstSeq: null,
    lastSeq: null,
    prunedThrough: e.prunedThrough,
    prunedSigned: e.prunedSigned,
    version,
    checkpoint: e.newestHead,
    heads: e.heads,
    unsignedRecords: 0,
    maxUnsigned: e.newestValid?.maxUnsigned ?? (version === 2 ? MAX_UNSIGNED_RECORDS : null),
    ok: true,
    problem: null,
    problems,
  };
  let expectedSeq = firstSeq;
  let expectedPrev: string | null = e.prunedHash;
  let after = e.prunedThrough ?? 0;
  let walked = true;
  walk: for (;;) {
    const rows = await db
      .select({ d: decisions, exactTime: sql<boolean>`${decisions.time} = date_trunc('milliseconds', ${decisions.time})` })
      .from(decisions)
      .where(and(eq(decisions.stream, stream), gt(decisions.seq, after)))
      .orderBy(asc(decisions.seq), asc(decisions.id))
      .limit(pageSize);
    for (const { d, exactTime } of rows) {
      const r = fromRow(d);
      report.records++;
      report.firstSeq ??= r.seq;
      report.lastSeq = r.seq;
      after = r.seq;
      const fail = (kind: ChainProblem["kind"], message: string, seq = r.seq) => {
        problems.push({ kind, seq, decisionId: r.id, message });
        walked = false;
      };
      if (r.seq < expectedSeq) {
        fail("altered", `a second record (decision ${r.id}) claims seq ${r.seq}`);
        break walk;
      }
      if (r.seq !== expectedSeq) {
        const gap = r.seq - expectedSeq;
        fail(
          "missing",
          `${gap === 1 ? `the record at seq ${expectedSeq} is` : `records at seq ${expectedSeq} to ${r.seq - 1} are`} missing (deleted) before decision ${r.id} at seq ${r.seq}`,
          expectedSeq,
        );
        break walk;
      }
      if (!hashMatches(r, d.hashVersion)) {
        fail("altered", `decision ${r.id} at seq ${r.seq} does not match its hash: it was changed, or moved from another seq, after it was written`);
        break walk;
      }
      const taskId = (r.task as { id?: unknown } | null)?.id ?? null;
      if (d.taskId !== taskId) {
        fail("altered", `decision ${r.id} at seq ${r.seq}: task_id (searched by task) is ${JSON.stringify(d.taskId)}, its hashed task's id is ${JSON.stringify(taskId)}`);
        break walk;
      }
      if (exactTime !== true) {
        fail("altered", `decision ${r.id} at seq ${r.seq}: its stored time has sub-millisecond digits its hashed time does not`);
        break walk;
      }
      if (version !== null && d.hashVersion !== version) {
        fail("stream", `decision ${r.id} at seq ${r.seq} has hash version ${d.hashVersion}, its stream is version ${version}`);
        break walk;
      }
      if (r.prevHash !== expectedPrev) {
        fail("link", `decision ${r.id} at seq ${r.seq} does not follow the record before it (prevHash differs): records were reordered or replaced`);
        break walk;
      }
      expectedSeq = r.seq + 1;
      expectedPrev = r.hash;
    }
    if (rows.length < pageSize) break;
  }

  // The end of the stream against what was signed.
  if (walked) {
    const last = report.lastSeq ?? e.prunedThrough ?? 0;
    if (e.required && e.required.seq > last) {
      problems.push({
        kind: "truncated",
        seq: last + 1,
        decisionId: null,
        message: `records at seq ${last + 1} to ${e.required.seq} are missing at the end of the stream: ${e.required.by} names seq ${e.required.seq}`,
      });
    } else if (report.lastSeq === null && e.prunedThrough === null && row && (e.required?.seq ?? 0) === 0) {
      problems.push({ kind: "missing", seq: 1, decisionId: null, message: `stream ${stream} is registered but has no records (a registered stream always has its first batch)` });
    }
    if (!row && (report.records > 0 || e.heads > 0 || e.required || e.pruned)) {
      problems.push({ kind: "stream", seq: firstSeq, decisionId: null, message: `stream ${stream} has no streams row (its registration was deleted)` });
    }
  }
  const signedThrough = Math.max(e.newestValid?.seq ?? 0, e.prunedThrough ?? 0);
  // A listing copies the newest head signed for the stream (or its retention): that head must still be there.
  if (e.listed && e.listed.seq > signedThrough && !problems.some((p) => p.kind === "truncated")) {
    problems.push({
      kind: "checkpoint",
      seq: e.listed.seq,
      decisionId: null,
      message: `${e.listed.by} lists this stream as signed through seq ${e.listed.seq}, but no valid signed head of it at or after that seq is left: signed heads were deleted`,
    });
  }
  report.unsignedRecords = Math.max(0, (report.lastSeq ?? 0) - signedThrough);
  if (walked && version === 2 && report.maxUnsigned !== null && report.unsignedRecords > report.maxUnsigned) {
    problems.push({
      kind: "checkpoint",
      seq: signedThrough + 1,
      decisionId: null,
      message: `${report.unsignedRecords} records follow the newest signed head (seq ${signedThrough}), more than the ${report.maxUnsigned} its writer leaves unsigned: signed heads were deleted`,
    });
  }
  problems.sort((a, b) => a.seq - b.seq || KIND_RANK[a.kind] - KIND_RANK[b.kind]);
  report.problem = problems[0] ?? null;
  report.ok = problems.length === 0;
  return report;
}

/**
 * Walks one stream's chain, with every checkpoint that bears on it (its own, and the other
 * streams' heads that list it).
 * @param pageSize records read per query (memory stays at one page)
 */
export async function verifyStream(db: Db, stream: string, verify: Verifier, pageSize = 1000): Promise<StreamReport> {
  const [report] = await audit(db, verify, stream, pageSize);
  return report!;
}

/**
 * Verifies every stream (or one).
 * @param opts.brokenOnly list only the streams with a problem (the counts cover all)
 * @param opts.trust whose keys to trust (default: every key in `signing_keys`)
 */
export async function verifyChains(db: Db, opts: { stream?: string; brokenOnly?: boolean; trust?: ChainTrust } = {}): Promise<VerifyReport> {
  const verify = await chainHeadVerifier(db, opts.trust);
  const all = await audit(db, verify, opts.stream, 1000);
  const reports = opts.brokenOnly ? all.filter((r) => !r.ok) : all;
  return {
    ok: all.every((r) => r.ok),
    checkedAt: new Date().toISOString(),
    streams: all.length,
    records: all.reduce((n, r) => n + r.records, 0),
    trust: verify.trust!,
    reports,
  };
}

/** The chain status of one decision, for the explorer's detail view. */
export interface DecisionChainStatus {
  /** The stored hash is the hash of the record (and its stored copies agree with it). */
  hashOk: boolean;
  /** The record before it in its stream carries the hash this one names as `prevHash`. */
  prevOk: boolean;
  /** The record after it names this one's hash (true when this is the stream's last record). */
  nextOk: boolean;
  /** A valid signed head at or after this seq signs the hash of the record at its seq. */
  signed: boolean;
}

/** Checks one decision's links to its neighbours and whether a signed head covers it. */
export async function decisionChainStatus(db: Db, r: DecisionRecord, trust?: ChainTrust): Promise<DecisionChainStatus> {
  const neighbour = async (seq: number) =>
    (await db.select({ hash: decisions.hash, prevHash: decisions.prevHash }).from(decisions).where(and(eq(decisions.stream, r.stream), eq(decisions.seq, seq))))[0];
  const verify = await chainHeadVerifier(db, trust);
  const [stored] = await db.select({ hashVersion: decisions.hashVersion, taskId: decisions.taskId }).from(decisions).where(eq(decisions.id, r.id));
  const checkpoints = await db
    .select()
    .from(chainCheckpoints)
    .where(and(eq(chainCheckpoints.stream, r.stream), sql`(${chainCheckpoints.kind} = 'retention' OR ${chainCheckpoints.seq} >= ${r.seq})`))
    .orderBy(asc(chainCheckpoints.seq));
  let pruned: { seq: number; hash: string } | null = null;
  let signed = false;
  for (const cp of checkpoints) {
    const row: CheckpointRow = { ...cp, recordId: null, recordHash: null };
    const kind = cp.kind === "retention" ? "retention" : "head";
    const c = await verify(cp.jwt, kind === "retention" ? CHAIN_RETENTION_TYP : CHAIN_HEAD_TYP);
    if (!c || !claimsMatch(c, row, kind)) continue;
    if (kind === "retention") {
      if (!pruned || pruned.seq < cp.seq) pruned = { seq: cp.seq, hash: cp.hash };
    } else if (!signed && cp.seq >= r.seq) {
      signed = (await neighbour(cp.seq))?.hash === cp.hash;
    }
  }
  let prevOk: boolean;
  if (r.seq === 1) prevOk = r.prevHash === null;
  else if (pruned?.seq === r.seq - 1) prevOk = r.prevHash === pruned.hash;
  else prevOk = (await neighbour(r.seq - 1))?.hash === r.prevHash;
  const next = await neighbour(r.seq + 1);
  const taskId = (r.task as { id?: unknown } | null)?.id ?? null;
  const hashOk = stored !== undefined && hashMatches(r, stored.hashVersion) && stored.taskId === taskId;
  return { hashOk, prevOk, nextOk: next === undefined || next.prevHash === r.hash, signed };
}
