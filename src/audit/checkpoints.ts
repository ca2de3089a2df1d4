/**
 * Signed chain heads. A hash chain proves that no record was changed, removed or moved in the
 * middle, but not that none was removed at the end: a chain cut short is still a valid chain.
 * So every so often (and at shutdown) the writer signs the head of each of its streams with
 * Verdict's ES256 key and stores the JWT in `chain_checkpoints`; the verifier then requires
 * every record up to the newest signed head.
 */
import type { Logger } from "pino";
import type { Db } from "../db/client.js";
import { chainCheckpoints } from "../db/audit-schema.js";
import type { DecisionLog } from "../decisions/log.js";
import type { SigningKeys } from "../keys/signing-keys.js";

/** The JWT `typ` of a signed chain head. */
export const CHAIN_HEAD_TYP = "verdict-chain-head+jwt";

/** The claims of a signed chain head (plus `iat`). */
export interface ChainHeadClaims {
  stream: string;
  seq: number;
  hash: string;
}

/** Signs the heads of a decision log's streams, on a timer, after N records, and at shutdown. */
export class ChainCheckpointer {
  private readonly signed = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private lastTime = Date.now();
  private lastRecorded = 0;
  private running: Promise<number> | null = null;

  /**
   * @param opts.intervalMs sign at least this often when there is something new (default 60 s)
   * @param opts.everyRecords sign sooner once this many records were written since the last time (default 10,000)
   */
  constructor(
    private readonly db: Db,
    private readonly log: DecisionLog,
    private readonly keys: SigningKeys,
    private readonly opts: { intervalMs?: number; everyRecords?: number; logger?: Logger } = {},
  ) {}

  /** Starts the timer (checked every second, or every `intervalMs` when shorter). */
  start(): void {
    const intervalMs = this.opts.intervalMs ?? 60_000;
    this.timer = setInterval(() => {
      const due = Date.now() - this.lastTime >= intervalMs || this.log.stats.recorded - this.lastRecorded >= (this.opts.everyRecords ?? 10_000);
      if (due) void this.checkpoint().catch((e) => this.opts.logger?.error({ err: String(e) }, "chain checkpoint failed"));
    }, Math.min(intervalMs, 1_000));
    this.timer.unref();
  }

  /**
   * Signs and stores the head of every stream that advanced since its last checkpoint.
   * @returns how many heads were signed
   */
  checkpoint(): Promise<number> {
    // One at a time: a slow database must not make two ticks sign the same head twice.
    this.running ??= this.signHeads().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async signHeads(): Promise<number> {
    this.lastTime = Date.now();
    this.lastRecorded = this.log.stats.recorded;
    let n = 0;
    for (const head of this.log.streamHeads()) {
      if ((this.signed.get(head.stream) ?? 0) >= head.seq) continue;
      const claims: ChainHeadClaims = { stream: head.stream, seq: head.seq, hash: head.hash };
      const jwt = await this.keys.signJwt({ ...claims }, { typ: CHAIN_HEAD_TYP });
      await this.db.insert(chainCheckpoints).values({ ...claims, jwt, time: new Date() });
      this.signed.set(head.stream, head.seq);
      n++;
    }
    return n;
  }

  /** Stops the timer and signs the final heads (call after the log has drained). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.checkpoint();
  }
}
