/**
 * Keeps a replica on the version the fleet activated. On Postgres, a dedicated connection
 * LISTENs for activations (and publications, to build a version before it is activated, and
 * drift) and reconnects when it drops; polling backs it up: every
 * second while the listener is down (and always on PGlite, which is one process's database),
 * every five seconds while it is up, in case a notification was missed. Either way a new
 * activation reaches the replica within 2 s.
 */
import pg from "pg";
import type { Logger } from "pino";
import type { Db } from "../db/client.js";
import type { ActivePolicySet } from "../policy/active.js";
import { DRIFT_CHANNEL, type ToolDriftRegistry } from "../catalog/drift.js";
import { ACTIVATION_CHANNEL, activeVersion, loadVersion, newestVersion, PUBLISH_CHANNEL, type PolicySetCache } from "./store.js";

/** Tuning of {@link PolicySetSync}, in milliseconds. */
export interface SyncOptions {
  /** Poll interval while the listener is down, or without one (default 1,000). */
  pollMs?: number;
  /** Poll interval while the listener is up (default 5,000). */
  listeningPollMs?: number;
  /** Longest wait before reconnecting the listener (default 5,000; starts at 250 and doubles). */
  maxBackoffMs?: number;
}

export class PolicySetSync {
  private listener: pg.Client | null = null;
  private listening = false;
  private timer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private backoff = 250;
  private stopped = false;
  private checking: Promise<void> | null = null;
  private recheck = false;
  /** The version this replica last failed to build, so it is not retried on every poll. */
  private failed: string | null = null;
  /** Published versions that did not build here, so polling does not retry them. */
  private readonly unbuildable = new Set<string>();

  /**
   * @param databaseUrl the Postgres URL to LISTEN on; undefined on PGlite (polling only)
   */
  constructor(
    private readonly deps: {
      db: Db;
      policies: ActivePolicySet;
      cache: PolicySetCache;
      drift: ToolDriftRegistry;
      logger: Logger;
      databaseUrl?: string;
    },
    private readonly options: SyncOptions = {},
  ) {}

  /** Starts listening (when on Postgres) and polling. Resolves once the listener is up or has failed once. */
  async start(): Promise<void> {
    if (this.deps.databaseUrl) await this.connect();
    else void this.check();
    this.schedule();
  }

  /**
   * Stops listening and polling. Bounded: with the database gone, closing the listener or
   * finishing a check could wait for a timeout, and shutdown must not.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const l = this.listener;
    this.listener = null;
    this.listening = false;
    const settled = Promise.all([l?.end().catch(() => undefined), this.checking]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise<void>((r) => (timer = setTimeout(r, 2_000)))]);
    clearTimeout(timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    const ms = this.listening ? (this.options.listeningPollMs ?? 5_000) : (this.options.pollMs ?? 1_000);
    this.timer = setTimeout(() => {
      void this.check().finally(() => this.schedule());
    }, ms);
    this.timer.unref();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.deps.databaseUrl, connectionTimeoutMillis: 2_000 });
    const lost = (why: string) => {
      if (this.listener !== client) return;
      this.listener = null;
      this.listening = false;
      this.deps.logger.warn({ err: why }, "policy-set listener lost; polling every second until it reconnects");
      client.end().catch(() => undefined);
      this.reconnectLater();
    };
    client.on("error", (e) => lost(e.message));
    client.on("end", () => lost("connection ended"));
    client.on("notification", (n) => {
      if (n.channel === DRIFT_CHANNEL) void this.deps.drift.refresh().catch((e) => this.deps.logger.warn({ err: String(e) }, "drift refresh failed"));
      else if (n.channel === PUBLISH_CHANNEL && n.payload) void this.warm(n.payload);
      else void this.check();
    });
    this.listener = client;
    try {
      await client.connect();
      if (this.stopped) {
        await client.end().catch(() => undefined);
        return;
      }
      await client.query(`LISTEN ${ACTIVATION_CHANNEL}`);
      await client.query(`LISTEN ${DRIFT_CHANNEL}`);
      await client.query(`LISTEN ${PUBLISH_CHANNEL}`);
      this.listening = true;
      this.backoff = 250;
      // Anything activated while the listener was down.
      void this.check();
    } catch (e) {
      lost((e as Error).message);
    }
  }

  /** Builds a published version into the cache (once), so that its activation is a swap. */
  private async warm(version: string): Promise<void> {
    if (this.deps.cache.has(version) || this.unbuildable.has(version)) return;
    try {
      await loadVersion(this.deps.db, version, this.deps.cache);
    } catch (e) {
      this.unbuildable.add(version);
      this.deps.logger.warn({ version, err: e instanceof Error ? e.message : String(e) }, "published version does not build on this replica");
    }
  }

  private reconnectLater(): void {
    if (this.stopped || this.reconnectTimer) return;
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.options.maxBackoffMs ?? 5_000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, wait);
    this.reconnectTimer.unref();
  }

  /**
   * Reads the version the fleet activated and, when it differs from the one in force, builds
   * and activates it; refreshes tool drift too. Concurrent calls coalesce. Never throws: a
   * version that does not build here is logged and the replica keeps the set it has.
   */
  check(): Promise<void> {
    if (this.checking) {
      this.recheck = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.recheck = false;
        await this.checkOnce();
      } while (this.recheck && !this.stopped);
    })().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  private async checkOnce(): Promise<void> {
    const { db, policies, cache, drift, logger } = this.deps;
    try {
      await drift.refresh();
      const active = await activeVersion(db);
      if (active && active.version !== policies.peek()?.version && active.version !== this.failed) {
        const { policySet } = await loadVersion(db, active.version, cache);
        policies.activate(policySet);
        this.failed = null;
        logger.info({ version: policySet.version, activatedBy: active.activatedBy, reason: active.reason }, "policy set activated");
      }
      // The newest publication is the likeliest next activation: build it ahead (when polling,
      // this stands in for the publish notification).
      const newest = await newestVersion(db);
      if (newest) await this.warm(newest);
    } catch (e) {
      const version = (await activeVersion(db).catch(() => null))?.version ?? null;
      if (version && e instanceof Error && e.name === "PolicySetError") this.failed = version;
      logger.error({ err: e instanceof Error ? e.message : String(e) }, "could not switch to the activated policy set; keeping the one in force");
    }
  }
}
