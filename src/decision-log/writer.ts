/**
 * The decision log writer: group commit with a per-stream hash chain.
 *
 * Decisions that arrive while a batch is being written wait in a queue and go out together in
 * the next multi-row INSERT; each caller is answered only after its batch commits.
 *
 * Postgres rejects a multi-row INSERT as a whole, so one row it refuses for its own data (an
 * index entry too large, a value `jsonb` cannot hold, a duplicate key: SQLSTATE classes 22, 23,
 * 54, see `../db/errors.ts`) would fail every caller of the batch. The writer isolates it
 * instead: it splits the batch in two and commits each half in turn, chaining each half after
 * the last row committed, until only the refused rows are left. Their callers get a
 * {@link RecordError} with reason `refused` (the HTTP layer answers 400: the same request would
 * be refused again); everyone else is answered, in one unbroken chain of the same stream (no
 * gap, no new stream: a refused statement committed nothing, so the head is known).
 *
 * Any other failure (the database gone, a connection dropped, a disk full) fails every caller
 * of the batch not yet answered with reason `unavailable` (503, so the PEP fails closed), and the
 * writer starts a new stream, because a failed write may or may not have committed and the chain
 * must never fork. The next write reconnects by itself.
 *
 * Error messages are fixed sentences: the driver's error (whose message drizzle fills with the
 * query and every row's values) goes to the server's log as its SQLSTATE and message only, and
 * stays the error's `cause`.
 */
import { hostname } from "node:os";
import type { Logger } from "pino";
import { v7 as uuidv7 } from "uuid";
import { getTableColumns, sql, type SQL } from "drizzle-orm";
import type { Database } from "../db/client.js";
import { describeDbError, isDataError } from "../db/errors.js";
import { decisions, streams } from "../db/schema.js";
import { ensureDecisionPartitions, isMissingPartition } from "./partitions.js";
import { CHAIN_VERSION, recordHash, type DecisionRecord, type UnchainedRecord } from "./record.js";
import { toRow, type NewRow } from "./row.js";

/**
 * Why a decision was not recorded:
 * - `refused`: the database refused this record's own data (see the module comment); the same
 *   record would be refused again, and no other record was affected;
 * - `unavailable`: the database could not take the batch (down, unreachable, out of resources);
 * - `closed`: the log is closed (the server is stopping).
 */
export type RecordFailure = "refused" | "unavailable" | "closed";

/**
 * The decision could not be recorded; the caller must not act on it. The message is a fixed
 * sentence, never the database's text; the database error, if any, is the `cause`.
 */
export class RecordError extends Error {
  constructor(
    readonly reason: RecordFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "RecordError";
  }
}

interface Pending {
  record: UnchainedRecord;
  resolve: (r: DecisionRecord) => void;
  reject: (e: Error) => void;
  /** Answered (resolved or rejected) already. */
  settled: boolean;
}

interface Stream {
  id: string;
  seq: number;
  prevHash: string | null;
  registered: boolean;
}

/** The last committed record of a stream. */
export interface ChainHead {
  stream: string;
  seq: number;
  hash: string;
}

/**
 * What the chain checkpointer (`audit/checkpoints.ts`) hooks into the writer: `beforeInsert`
 * may hold (or fail) a statement until the stream's head is signed, so that no more than its
 * bound of records is ever unsigned; `afterCommit` learns each new head.
 */
export interface WriteHooks {
  beforeInsert(stream: string, rows: number): Promise<void>;
  afterCommit(head: ChainHead): void;
}

/**
 * What the metrics (`metrics/metrics.ts`) learn from the writer: each committed INSERT's row
 * count, and records not written. Called synchronously; must not throw.
 */
export interface LogObserver {
  batchCommitted(rows: number): void;
  writeFailed(reason: "refused" | "unavailable", rows: number): void;
}

/** Counters of the writer, for `/readyz` and the benchmark. */
export interface DecisionLogStats {
  recorded: number;
  /** Records not written: `refused` ones and those of failed batches. */
  failed: number;
  /** Records the database refused for their own data (isolated; their batches were written). */
  refused: number;
  /** Committed INSERT statements. */
  batches: number;
  largestBatch: number;
}

const columns = getTableColumns(decisions);

/**
 * One multi-row INSERT whose rows travel as a single JSON parameter, expanded by Postgres
 * (`jsonb_populate_recordset`). Measured: building a 27-parameter-per-row statement with
 * drizzle's query builder cost about 8% of a decision's processor time at 50 connections; one
 * `JSON.stringify` costs a fraction of that, and the database does the typing.
 */
function insertDecisions(rows: NewRow[]): SQL {
  // the columns the rows give; any other column takes its default
  const columnList = Object.keys(rows[0]!)
    .map((key) => `"${columns[key as keyof typeof columns].name}"`)
    .join(", ");
  const json = JSON.stringify(
    rows.map((row) => {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(row)) out[columns[key as keyof typeof columns].name] = value;
      return out;
    }),
  );
  return sql`INSERT INTO ${decisions} (${sql.raw(columnList)}) SELECT ${sql.raw(columnList)} FROM jsonb_populate_recordset(NULL::${decisions}, ${json}::jsonb)`;
}

/**
 * The group-commit writer of the decision log: {@link DecisionLog.append} queues a record and
 * resolves once the multi-row INSERT holding it has committed (see the module comment).
 */
export class DecisionLog {
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private stream: Stream = DecisionLog.newStream();
  private closed = false;
  private readonly heads = new Map<string, ChainHead>();
  private hooks: WriteHooks | null = null;
  private observer: LogObserver | null = null;
  readonly stats: DecisionLogStats = { recorded: 0, failed: 0, refused: 0, batches: 0, largestBatch: 0 };

  /**
   * @param database where records go
   * @param options.maxBatch most rows in one INSERT (default 500; Postgres allows 65,535 parameters)
   */
  constructor(
    private readonly database: Database,
    private readonly options: { maxBatch?: number; logger?: Logger } = {},
  ) {}

  private static newStream(): Stream {
    return { id: uuidv7(), seq: 0, prevHash: null, registered: false };
  }

  /** Most rows in one INSERT. */
  get maxBatch(): number {
    return this.options.maxBatch ?? 500;
  }

  /** Sets (or, with null, removes) the checkpointer's hooks; one set at a time. */
  setHooks(hooks: WriteHooks | null): void {
    this.hooks = hooks;
  }

  /** Sets (or, with null, removes) the metrics observer; one at a time. */
  setObserver(observer: LogObserver | null): void {
    this.observer = observer;
  }

  /** Tells the observer, which must never break a write (metrics are not worth a decision). */
  private observe(f: (o: LogObserver) => void): void {
    try {
      if (this.observer) f(this.observer);
    } catch {
      // metrics only
    }
  }

  /** The id of the stream this writer appends to now. */
  get streamId(): string {
    return this.stream.id;
  }

  /**
   * Appends a record; resolves with the chained record once its batch has committed.
   * @throws RecordError (as a rejection) when the record could not be written, or the log is closed
   */
  append(record: UnchainedRecord): Promise<DecisionRecord> {
    if (this.closed) return Promise.reject(new RecordError("closed", "the decision log is closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject, settled: false });
      if (!this.flushing) this.flushing = this.flush();
    });
  }

  /** Resolves when every queued record has been written (or has failed). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Writes what is queued, then refuses new records. */
  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.options.maxBatch ?? 500);
        await this.writeBatch(batch);
      }
    } finally {
      this.flushing = null;
    }
  }

  private async insert(stream: Stream, rows: NewRow[]): Promise<void> {
    if (!stream.registered) {
      await this.database.db.transaction(async (tx) => {
        await tx.insert(streams).values({ id: stream.id, startedAt: new Date(), host: hostname(), pid: process.pid, chainVersion: CHAIN_VERSION });
        await tx.execute(insertDecisions(rows));
      });
      stream.registered = true;
    } else {
      await this.database.db.execute(insertDecisions(rows));
    }
  }

  /**
   * The last committed record (seq, hash) of every stream this writer has appended to, for
   * signed checkpoints (`src/audit/checkpoints.ts`).
   */
  streamHeads(): ChainHead[] {
    return [...this.heads.values()];
  }

  /** Inserts rows, creating a missing day partition first when Postgres says there is none. */
  private async insertRows(stream: Stream, rows: NewRow[]): Promise<void> {
    await this.hooks?.beforeInsert(stream.id, rows.length);
    try {
      await this.insert(stream, rows);
    } catch (e) {
      // No partition for the rows' day (clock ahead of maintenance, or a fresh database):
      // Postgres rejected the whole statement, so nothing was written; create it and retry once.
      if (!isMissingPartition(e)) throw e;
      const times = rows.map((r) => r.time.getTime());
      await ensureDecisionPartitions(this.database.db, new Date(Math.min(...times)), new Date(Math.max(...times)));
      await this.insert(stream, rows);
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    try {
      await this.commit(this.stream, batch);
    } catch (e) {
      // Not the data's fault: the statement may or may not have committed, so this stream ends here.
      const unanswered = batch.filter((p) => !p.settled);
      this.stats.failed += unanswered.length;
      this.observe((o) => o.writeFailed("unavailable", unanswered.length));
      this.stream = DecisionLog.newStream();
      this.options.logger?.error({ ...describeDbError(e), records: unanswered.length }, "decision batch not recorded");
      for (const p of unanswered) this.settle(p, new RecordError("unavailable", "the decision could not be recorded", { cause: e }));
    }
  }

  private settle(p: Pending, outcome: DecisionRecord | RecordError): void {
    if (p.settled) return;
    p.settled = true;
    if (outcome instanceof RecordError) p.reject(outcome);
    else p.resolve(outcome);
  }

  private refuse(p: Pending, e: unknown): void {
    this.stats.failed++;
    this.stats.refused++;
    this.observe((o) => o.writeFailed("refused", 1));
    this.options.logger?.warn(
      { ...describeDbError(e), decisionId: p.record.id, requestId: p.record.requestId },
      "decision refused by the database for its data; the rest of its batch is recorded",
    );
    this.settle(p, new RecordError("refused", "the database refused this decision's data", { cause: e }));
  }

  /**
   * Chains `part` after the stream's head and inserts it in one statement. When Postgres refuses
   * the statement for its data, commits each half in turn (each chained after what is committed
   * by then), down to the single rows it refuses: those alone fail. A batch of n rows with k
   * refused ones takes at most about 2k·log2(n) statements more than one.
   * @throws what the database threw when it is not the data's fault (the caller ends the stream)
   */
  private async commit(stream: Stream, part: Pending[]): Promise<void> {
    const chained: DecisionRecord[] = [];
    const members: Pending[] = [];
    let prevHash = stream.prevHash;
    let seq = stream.seq;
    for (const p of part) {
      const unhashed = { ...p.record, stream: stream.id, seq: seq + 1, prevHash };
      let hash: string;
      try {
        hash = recordHash(unhashed);
      } catch (e) {
        // A value canonical JSON cannot hold (such as a lone surrogate): this record alone cannot be chained.
        this.refuse(p, e);
        continue;
      }
      seq++;
      chained.push({ ...unhashed, hash });
      members.push(p);
      prevHash = hash;
    }
    if (!members.length) return;
    try {
      await this.insertRows(stream, chained.map(toRow));
    } catch (e) {
      if (!isDataError(e)) throw e;
      if (members.length === 1) return this.refuse(members[0]!, e);
      const half = Math.ceil(members.length / 2);
      await this.commit(stream, members.slice(0, half));
      await this.commit(stream, members.slice(half));
      return;
    }
    stream.seq = seq;
    stream.prevHash = prevHash;
    this.heads.set(stream.id, { stream: stream.id, seq, hash: prevHash! });
    this.hooks?.afterCommit({ stream: stream.id, seq, hash: prevHash! });
    this.stats.recorded += members.length;
    this.stats.batches++;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, members.length);
    this.observe((o) => o.batchCommitted(members.length));
    members.forEach((p, i) => this.settle(p, chained[i]!));
  }
}
