/**
 * Time partitions of `decisions` (one per UTC day, `decisions_pYYYYMMDD`, see
 * `migrations/0002_partitioning.sql`) and retention by dropping whole partitions.
 *
 * Dropping a partition removes the oldest records of some streams. So that the verifier can
 * still check what is left, and tell retention from a deletion by hand, the same transaction
 * signs a retention checkpoint per stream (`chain_checkpoints`, kind `retention`: the stream,
 * the first and last seq removed, the hash of the last one, the partition and the time, signed
 * like a chain head) and copies the last seq and hash into `streams.pruned_seq` / `pruned_hash`
 * (a copy the verifier compares with the signature). The first kept record must carry that hash
 * as its `prevHash`. The stream's signed heads at or below that seq go too: the retention
 * checkpoint supersedes them.
 */
import { sql } from "drizzle-orm";
import { CHAIN_RETENTION_TYP, CHECKPOINT_VERSION, type RetentionClaims } from "./chain.js";
import type { Db } from "../db/client.js";
import { chainCheckpoints } from "../db/audit-schema.js";
import { SigningKeys } from "../signing-keys/store.js";

const DAY_MS = 86_400_000;
const PARTITION_NAME = /^decisions_p(\d{4})(\d{2})(\d{2})$/;

/** The UTC day (`YYYY-MM-DD`) of an instant. */
export function utcDay(t: Date): string {
  return t.toISOString().slice(0, 10);
}

/**
 * Creates the daily partitions that cover `[from, to]` (both UTC days, inclusive) when missing.
 * Safe to call from several replicas at once (the SQL function takes an advisory lock).
 * @returns how many partitions were created
 */
export async function ensureDecisionPartitions(db: Db, from: Date, to: Date): Promise<number> {
  const res = await db.execute(
    sql`SELECT verdict_ensure_decision_partitions(${utcDay(from)}::date, ${utcDay(to)}::date) AS created`,
  );
  return Number(rowsOf<{ created: number }>(res)[0]?.created ?? 0);
}

/** A daily partition and the UTC day it holds. */
export interface DecisionPartition {
  name: string;
  /** First instant of the day (inclusive). */
  from: Date;
  /** First instant of the next day (exclusive). */
  to: Date;
}

/** Lists the daily partitions of `decisions`, oldest first. */
export async function listDecisionPartitions(db: Db): Promise<DecisionPartition[]> {
  const res = await db.execute(sql`
    SELECT c.relname AS name FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      JOIN pg_class p ON p.oid = i.inhparent
     WHERE p.relname = 'decisions' AND p.relnamespace = current_schema()::regnamespace
     ORDER BY c.relname`);
  const out: DecisionPartition[] = [];
  for (const { name } of rowsOf<{ name: string }>(res)) {
    const m = PARTITION_NAME.exec(name);
    if (!m) continue;
    const from = new Date(`${m[1]}-${m[2]}-${m[3]}T00:00:00Z`);
    out.push({ name, from, to: new Date(from.getTime() + DAY_MS) });
  }
  return out;
}

/**
 * Drops every daily partition whose whole day is older than `retentionDays` days before `now`,
 * signing per stream what was removed (see the module comment).
 * @param signer signs the retention checkpoints (default: the database's own keys)
 * @returns the names of the dropped partitions
 * @throws when the database fails; a partition is dropped together with its checkpoints or not at all
 */
export async function dropExpiredPartitions(db: Db, retentionDays: number, now = new Date(), signer?: SigningKeys): Promise<string[]> {
  const cutoff = new Date(Date.parse(utcDay(now)) - retentionDays * DAY_MS);
  const expired = (await listDecisionPartitions(db)).filter((p) => p.to.getTime() <= cutoff.getTime());
  const dropped: string[] = [];
  const keys = expired.length ? (signer ?? (await SigningKeys.open(db))) : undefined;
  for (const p of expired) {
    await db.transaction(async (tx) => {
      // The name comes from the catalog and matched PARTITION_NAME, so it is safe to interpolate.
      const ranges = rowsOf<{ stream: string; from_seq: string | number; seq: string | number; hash: string; pruned_seq: string | number | null }>(
        await tx.execute(
          sql.raw(`
        SELECT h.stream::text AS stream, h.from_seq, h.seq, h.hash, s.pruned_seq
          FROM (SELECT stream, min(seq) AS from_seq, max(seq) AS seq, (array_agg(hash ORDER BY seq DESC))[1] AS hash
                  FROM ${p.name} GROUP BY stream) h
          LEFT JOIN streams s ON s.id = h.stream`),
        ),
      );
      for (const r of ranges) {
        const seq = Number(r.seq);
        if (r.pruned_seq !== null && Number(r.pruned_seq) >= seq) continue;
        const time = new Date();
        const claims: RetentionClaims = {
          v: CHECKPOINT_VERSION,
          kind: "retention",
          stream: r.stream,
          seq,
          hash: r.hash,
          time: time.toISOString(),
          fromSeq: Number(r.from_seq),
          partition: p.name,
        };
        const jwt = await keys!.signChainJwt({ ...claims }, CHAIN_RETENTION_TYP);
        await tx.insert(chainCheckpoints).values({ stream: r.stream, kind: "retention", seq, hash: r.hash, jwt, time }).onConflictDoNothing();
        await tx.execute(sql`UPDATE streams SET pruned_seq = ${seq}, pruned_hash = ${r.hash} WHERE id = ${r.stream}::uuid`);
        await tx.execute(sql`DELETE FROM chain_checkpoints WHERE stream = ${r.stream}::uuid AND kind = 'head' AND seq <= ${seq}`);
      }
      await tx.execute(sql.raw(`DROP TABLE ${p.name}`));
    });
    dropped.push(p.name);
  }
  return dropped;
}

/**
 * Keeps partitions ahead of time and applies retention: at once, then every `intervalMs`.
 * Errors are reported to `onError` and retried at the next tick (a missing partition is also
 * created on demand by the decision log, so a failed tick does not lose decisions).
 * @returns a function that stops the timer
 */
export function maintainPartitions(
  db: Db,
  opts: {
    aheadDays?: number;
    retentionDays?: number;
    intervalMs?: number;
    /** Signs retention checkpoints (default: the database's own keys). */
    signer?: SigningKeys;
    onError?: (e: unknown) => void;
    onDropped?: (names: string[]) => void;
  },
): { ready: Promise<void>; stop: () => void } {
  const tick = async () => {
    const now = new Date();
    await ensureDecisionPartitions(db, new Date(now.getTime() - DAY_MS), new Date(now.getTime() + (opts.aheadDays ?? 7) * DAY_MS));
    if (opts.retentionDays !== undefined) {
      const dropped = await dropExpiredPartitions(db, opts.retentionDays, now, opts.signer);
      if (dropped.length) opts.onDropped?.(dropped);
    }
  };
  const run = () => tick().catch((e) => opts.onError?.(e));
  const ready = run();
  const timer = setInterval(run, opts.intervalMs ?? 3_600_000);
  timer.unref();
  return { ready, stop: () => clearInterval(timer) };
}

/** Whether an error (or its cause) is Postgres saying no partition holds the row. */
export function isMissingPartition(e: unknown): boolean {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    if (c instanceof Error && /no partition of relation/.test(c.message)) return true;
  }
  return false;
}

/** The rows of `db.execute` under either driver (pg returns `{rows}`, PGlite too). */
export function rowsOf<T>(res: unknown): T[] {
  return ((res as { rows?: T[] }).rows ?? (res as T[])) as T[];
}
