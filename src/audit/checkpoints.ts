/**
 * Signed checkpoints of the decision record (docs/tamper-evidence.md). A hash chain proves that
 * no record was changed, removed or moved in the middle, but not that none was removed at the
 * end: a chain cut short is still a valid chain. So the writer signs the head of each of its
 * streams with Verdict's ES256 key (or a key held outside the database, see
 * `signing-keys/store.ts`) and stores the JWT in `chain_checkpoints`:
 *
 * - before more than `everyRecords` (default and maximum 1,000) of a stream's records are
 *   unsigned: the writer holds its next INSERT until the head is signed (a signature is started
 *   once half that many are waiting, so under load the writer does not wait in practice);
 * - within `intervalMs` (default and maximum 5 s) of a record's commit, on a timer;
 * - at shutdown, after the last batch.
 *
 * Each head names the previous head of its stream (`prevSeq`), so a deleted head is seen, and,
 * at least once a minute and whenever a stream appears, every stream in `streams` with the
 * newest seq signed for it and its format version, so a stream deleted with its `streams` row
 * and its own heads is seen from the heads of the others. Retention signs what it removes
 * (`src/decision-log/partitions.ts`, `RetentionClaims` in `src/decision-log/chain.ts`).
 */
import type { Logger } from "pino";
import { sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { chainCheckpoints } from "../db/audit-schema.js";
import { streams } from "../db/schema.js";
import type { ChainHead, DecisionLog } from "../decision-log/writer.js";
import type { SigningKeys } from "../signing-keys/store.js";
import { CHAIN_HEAD_TYP, CHECKPOINT_VERSION, type HeadClaims, type ListedStream, type StreamRegistration } from "../decision-log/chain.js";

/** The most records a writer leaves unsigned by default (and the most `VERDICT_CHECKPOINT_RECORDS` allows). */
export const MAX_UNSIGNED_RECORDS = 1000;
/** The longest a committed record stays unsigned by default, in ms (and the most `VERDICT_CHECKPOINT_SECONDS` allows). */
export const MAX_UNSIGNED_MS = 5_000;
/** Every stream is listed in a writer's heads at least this often, in ms. */
export const LISTING_INTERVAL_MS = 60_000;

/** What the checkpointer did, for tests and the benchmark. */
export interface CheckpointerStats {
  /** Heads signed. */
  heads: number;
  /** INSERTs the writer held until a head was signed. */
  waits: number;
  /** Signing rounds that failed (logged; retried on the next trigger). */
  failures: number;
}

interface KnownStream {
  id: string;
  version: number;
  seq: number;
  registration: StreamRegistration;
}

/** Signs the heads of a decision log's streams (see the module comment). */
export class ChainCheckpointer {
  private readonly signedSeq = new Map<string, number>();
  /** When the oldest unsigned record of each stream was committed (ms, `now()`). */
  private readonly firstUnsignedAt = new Map<string, number>();
  private lastListing = { at: Number.NEGATIVE_INFINITY, ids: "" };
  private timer: NodeJS.Timeout | null = null;
  private hooked = false;
  private current: Promise<number> | null = null;
  private pending: Promise<number> | null = null;
  readonly stats: CheckpointerStats = { heads: 0, waits: 0, failures: 0 };
  private readonly intervalMs: number;
  private readonly everyRecords: number;
  private readonly now: () => number;

  /**
   * @param opts.intervalMs a committed record is signed within this long (default 5,000 ms)
   * @param opts.everyRecords at most this many records of a stream are unsigned (default 1,000;
   *   a single INSERT larger than that, up to the log's `maxBatch`, is the exception)
   * @param opts.now the clock (ms), for tests
   */
  constructor(
    private readonly db: Db,
    private readonly log: DecisionLog,
    private readonly keys: SigningKeys,
    private readonly opts: { intervalMs?: number; everyRecords?: number; logger?: Logger; now?: () => number } = {},
  ) {
    this.intervalMs = opts.intervalMs ?? MAX_UNSIGNED_MS;
    this.everyRecords = opts.everyRecords ?? MAX_UNSIGNED_RECORDS;
    this.now = opts.now ?? Date.now;
  }

  /** The most records of a stream left after its newest signed head. */
  get maxUnsigned(): number {
    return Math.max(this.everyRecords, this.log.maxBatch);
  }

  private get tickMs(): number {
    return Math.min(1_000, Math.max(50, this.intervalMs / 4));
  }

  /** Hooks into the writer and starts the timer. */
  start(): void {
    this.log.setHooks({ beforeInsert: (stream, rows) => this.beforeInsert(stream, rows), afterCommit: (head) => this.afterCommit(head) });
    this.hooked = true;
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
  }

  /**
   * One timer tick: signs when a stream's oldest unsigned record would otherwise outlive
   * `intervalMs` before the next tick.
   * @returns the signing round started (failures are logged), or null when none was due
   */
  tick(): Promise<number> | null {
    const now = this.now();
    for (const at of this.firstUnsignedAt.values()) {
      if (now - at >= this.intervalMs - this.tickMs) return this.background();
    }
    return null;
  }

  private background(): Promise<number> {
    return this.checkpoint().catch((e: unknown) => {
      this.opts.logger?.error({ err: e instanceof Error ? e.message : String(e) }, "chain checkpoint failed");
      return 0;
    });
  }

  private unsigned(stream: string): number {
    const head = this.log.streamHeads().find((h) => h.stream === stream);
    return (head?.seq ?? 0) - (this.signedSeq.get(stream) ?? 0);
  }

  private afterCommit(head: ChainHead): void {
    if (!this.firstUnsignedAt.has(head.stream)) this.firstUnsignedAt.set(head.stream, this.now());
    if (this.unsigned(head.stream) >= Math.ceil(this.everyRecords / 2)) void this.background();
  }

  /**
   * Holds an INSERT of `rows` records into `stream` until writing them leaves at most
   * `everyRecords` records unsigned (or, for one INSERT larger than that, only its own).
   * @throws Error when the head cannot be signed (the batch then fails: better a 503 than
   *   records beyond the bound)
   */
  private async beforeInsert(stream: string, rows: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const unsigned = this.unsigned(stream);
      if (unsigned <= 0 || unsigned + rows <= this.everyRecords) return;
      if (attempt === 3) throw new Error("the chain head could not be signed; no more unsigned records are written");
      this.stats.waits++;
      await this.checkpoint().catch(() => 0);
    }
  }

  /**
   * Signs and stores the head of every stream that advanced since its last checkpoint, as
   * committed when this is called (a round already running is followed by another).
   * @returns how many heads were signed
   */
  checkpoint(): Promise<number> {
    if (!this.current) {
      this.current = this.signHeads().finally(() => {
        this.current = null;
      });
      return this.current;
    }
    this.pending ??= this.current
      .catch(() => 0)
      .then(() => {
        this.pending = null;
        return this.checkpoint();
      });
    return this.pending;
  }

  /** Every registered stream with the newest seq signed for it (or pruned through). */
  private async knownStreams(): Promise<KnownStream[]> {
    const rows = await this.db
      .select({
        id: streams.id,
        version: streams.chainVersion,
        startedAt: streams.startedAt,
        host: streams.host,
        pid: streams.pid,
        prunedSeq: streams.prunedSeq,
        headSeq: sql<number | null>`(SELECT max(c.seq) FROM ${chainCheckpoints} c WHERE c.stream = ${streams.id} AND c.kind = 'head')`.mapWith(Number),
      })
      .from(streams);
    return rows
      .map((r) => ({
        id: r.id,
        version: r.version,
        seq: Math.max(r.headSeq ?? 0, r.prunedSeq ?? 0),
        registration: { startedAt: r.startedAt.toISOString(), host: r.host, pid: r.pid },
      }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  private async signHeads(): Promise<number> {
    try {
      return await this.signRound();
    } catch (e) {
      this.stats.failures++;
      throw e;
    }
  }

  private async signRound(): Promise<number> {
    const heads = this.log.streamHeads();
    if (!heads.some((h) => h.seq > (this.signedSeq.get(h.stream) ?? 0))) return 0;
    const startedAt = this.now();
    const known = await this.knownStreams();
    const byId = new Map(known.map((k) => [k.id, k]));
    const ids = known.map((k) => k.id).join(",");
    let n = 0;
    for (const head of heads) {
      const prevSeq = Math.max(this.signedSeq.get(head.stream) ?? 0, byId.get(head.stream)?.seq ?? 0);
      if (prevSeq >= head.seq) {
        this.signedSeq.set(head.stream, prevSeq);
        continue;
      }
      const listing = startedAt - this.lastListing.at >= LISTING_INTERVAL_MS || ids !== this.lastListing.ids;
      const time = new Date(startedAt);
      const claims: HeadClaims = {
        v: CHECKPOINT_VERSION,
        kind: "head",
        stream: head.stream,
        seq: head.seq,
        hash: head.hash,
        time: time.toISOString(),
        prevSeq,
        maxUnsigned: this.maxUnsigned,
        registration: byId.get(head.stream)?.registration ?? null,
        ...(listing ? { streams: known.filter((k) => k.id !== head.stream).map((k): ListedStream => [k.id, k.seq, k.version]) } : {}),
      };
      const jwt = await this.keys.signChainJwt({ ...claims }, CHAIN_HEAD_TYP);
      await this.db.insert(chainCheckpoints).values({ stream: head.stream, kind: "head", seq: head.seq, hash: head.hash, jwt, time }).onConflictDoNothing();
      if (listing) this.lastListing = { at: startedAt, ids };
      this.signedSeq.set(head.stream, head.seq);
      // Records committed while this round ran are unsigned since (at the latest) its start.
      if (this.unsigned(head.stream) > 0) this.firstUnsignedAt.set(head.stream, startedAt);
      else this.firstUnsignedAt.delete(head.stream);
      this.stats.heads++;
      n++;
    }
    return n;
  }

  /** Stops the timer, unhooks from the writer and signs the final heads (call after the log has drained). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.hooked) this.log.setHooks(null);
    this.hooked = false;
    await this.checkpoint();
  }
}
