/**
 * Verdict's Prometheus metrics (DESIGN.md "Observability", docs/observability.md): one
 * `prom-client` registry per app, never the library's global one, so that several apps in one
 * process (tests, workers) each count only their own decisions.
 *
 * Label values are bounded: a decision's `server` and `tool` labels are the caller's strings only
 * when the policy set in force pins them (its `schema/servers/*.json` catalogs); anything else is
 * counted under {@link UNKNOWN_LABEL}, so a caller sending a new tool name on every call cannot
 * grow the number of series.
 *
 * Fail closed: counting never throws into a request (a decision already recorded must be
 * answered), and nothing here is read by the decision path.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ActivePolicySet } from "../policy/active.js";

/** The label value of a server or tool that the pinned catalogs do not list. */
export const UNKNOWN_LABEL = "unknown";

/**
 * What a decision is counted as: the endpoint family that made it (`tools/call` and `tools/list`
 * under `/v1/mcp`, `authorize` for `/v1/authorize*`, `authzen` for `/access/v1/*`).
 */
export type DecisionKind = "tools/call" | "tools/list" | "authorize" | "authzen";

/** The parts of a decision the counters label. */
export interface CountedDecision {
  decision: "allow" | "deny";
  server: string;
  tool: string;
}

/** Pool state of a `pg.Pool` (its own counters), when the database is Postgres. */
export interface PoolState {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

/** Why a decision-log record was not written (`RecordFailure` of `decision-log/writer.ts`, less `closed`). */
export type WriteFailure = "refused" | "unavailable";

/** Where the metrics read state at scrape time. */
export interface MetricsSources {
  policies: ActivePolicySet;
  /** The Postgres pool; absent on PGlite (no pool gauges then). */
  pool?: PoolState;
  /**
   * Open tool drift (`verdict_tool_drift_open`): `ToolDriftRegistry.lookup`'s shape, the
   * reported hash of open drift for a tool pinned with a hash; absent: not exported.
   */
  drift?: { lookup(actionId: string, pinnedHash: string): string | undefined };
  /**
   * Task memory's counters (`verdict_history_reads_total`, `verdict_history_read_failures_total`,
   * `verdict_history_stale_allows_total`):
   * `TaskHistory.stats`' shape; absent: not exported.
   */
  history?: { readonly stats: { readonly reads: number; readonly failures: number; readonly stale: number } };
  /**
   * The decision cache (`verdict_decision_cache_hits_total`, `_misses_total`, `_errors_total`,
   * `verdict_decision_cache_entries`, `verdict_decision_cache_bytes`): `DecisionCache`'s shape;
   * absent (the cache is off): not exported.
   */
  decisionCache?: { readonly stats: { readonly hits: number; readonly misses: number; readonly errors: number }; readonly size: number; readonly bytes: number };
  /**
   * Ended tasks' counters (`verdict_task_lookups_total`, `verdict_task_lookup_failures_total`,
   * `verdict_tasks_ended_total`): `TaskEnds.stats`' shape; absent: not exported.
   */
  tasks?: { readonly stats: { readonly lookups: number; readonly failures: number; readonly ended: number } };
  /**
   * Approvals' counters (`verdict_approval_requests_total`, `verdict_approvals_decided_total`,
   * `verdict_approvals_used_total`): `ApprovalStore.stats`' shape; absent: not exported.
   */
  approvals?: { readonly stats: { readonly requested: number; readonly approved: number; readonly denied: number; readonly used: number } };
  /**
   * The approval webhook's counters (`verdict_approval_webhook_total{outcome}`):
   * `ApprovalWebhook.stats`' shape; absent (no `VERDICT_APPROVAL_WEBHOOK_URL`): not exported.
   */
  webhook?: { readonly stats: { readonly sent: number; readonly failed: number; readonly dropped: number } };
  /**
   * Also export prom-client's default process metrics (CPU, memory, event loop, GC). Off by
   * default: they start observers per registry, which a process with many apps (tests) need not.
   */
  processMetrics?: boolean;
}

/** Upper bounds of `verdict_decision_seconds`, in seconds: 0.5 ms to 2.5 s. */
const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Upper bounds of `verdict_log_batch_rows` (the writer's largest batch is 500 by default). */
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500];

/** Verdict's metrics over one registry; see the module comment and docs/observability.md. */
export class Metrics {
  /** The registry `/metrics` renders. */
  readonly registry = new Registry();
  private readonly decisions: Counter<"kind" | "decision" | "server" | "tool">;
  private readonly seconds: Histogram<"kind">;
  private readonly batchRows: Histogram;
  private readonly writeErrors: Counter<"reason">;

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    this.decisions = new Counter({
      name: "verdict_decisions_total",
      help: "Decisions made (and recorded), by kind, decision, server and tool; servers and tools outside the pinned catalogs are counted as \"unknown\".",
      labelNames: ["kind", "decision", "server", "tool"],
      registers,
    });
    this.seconds = new Histogram({
      name: "verdict_decision_seconds",
      help: "Time from a decision request's arrival until its decisions were recorded, in seconds.",
      labelNames: ["kind"],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.batchRows = new Histogram({
      name: "verdict_log_batch_rows",
      help: "Rows per committed decision-log INSERT (group commit).",
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.writeErrors = new Counter({
      name: "verdict_log_write_errors_total",
      help: "Decision records not written: refused (the database refused the record's data) or unavailable (its batch failed).",
      labelNames: ["reason"],
      registers,
    });
    new Gauge({
      name: "verdict_policy_set_info",
      help: "The policy set version in force (value 1).",
      labelNames: ["version"],
      registers,
      collect() {
        this.reset();
        this.set({ version: sources.policies.get().version }, 1);
      },
    });
    const pool = sources.pool;
    if (pool) {
      const poolGauge = (name: string, help: string, read: (p: PoolState) => number) =>
        new Gauge({ name, help, registers, collect() { this.set(read(pool)); } });
      poolGauge("verdict_db_pool_connections", "Postgres pool: connections open (idle and checked out).", (p) => p.totalCount);
      poolGauge("verdict_db_pool_idle", "Postgres pool: idle connections.", (p) => p.idleCount);
      poolGauge("verdict_db_pool_waiting", "Postgres pool: queries waiting for a connection.", (p) => p.waitingCount);
    }
    const drift = sources.drift;
    if (drift) {
      new Gauge({
        name: "verdict_tool_drift_open",
        help: "Pinned tools of the policy set in force whose reported definition differs (open drift known to this replica); such tools are hidden and denied.",
        registers,
        collect() {
          // Against the set in force: drift that a re-pin resolved is not counted.
          let open = 0;
          for (const [actionId, tool] of sources.policies.get().tools) if (drift.lookup(actionId, tool.definitionHash) !== undefined) open++;
          this.set(open);
        },
      });
    }
    // A counter that reads its value from a part's own stats when scraped.
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
    const history = sources.history;
    if (history) {
      counter("verdict_history_reads_total", "Task-history statements sent to the decision log (one per tools/call whose applicable policies read context.session.history).", () => history.stats.reads);
      counter("verdict_history_read_failures_total", "Task-history reads that failed (each such call answered 503, never allowed).", () => history.stats.failures);
      counter("verdict_history_stale_allows_total", "Allows committed more than the bound after their history read (answered 503, docs/task-memory.md).", () => history.stats.stale);
    }
    const cache = sources.decisionCache;
    if (cache) {
      counter("verdict_decision_cache_hits_total", "Tool-call decisions whose Cedar evaluation came from the decision cache (each still recorded before it was answered).", () => cache.stats.hits);
      counter("verdict_decision_cache_misses_total", "Tool-call decisions looked up in the decision cache and evaluated by Cedar.", () => cache.stats.misses);
      counter("verdict_decision_cache_errors_total", "Decision-cache failures (a key not built, the store failing); each such decision was evaluated by Cedar.", () => cache.stats.errors);
      new Gauge({ name: "verdict_decision_cache_entries", help: "Answers kept in the decision cache.", registers, collect() { this.set(cache.size); } });
      new Gauge({ name: "verdict_decision_cache_bytes", help: "Estimated bytes kept in the decision cache (keys and answers).", registers, collect() { this.set(cache.bytes); } });
    }
    const tasks = sources.tasks;
    if (tasks) {
      counter("verdict_task_lookups_total", "Lookups of a task among the ended ones sent to the database (a replica trusts 'not ended' for 500 ms).", () => tasks.stats.lookups);
      counter("verdict_task_lookup_failures_total", "Lookups of ended tasks that failed (each such call answered 503, never allowed).", () => tasks.stats.failures);
      counter("verdict_tasks_ended_total", "Tasks this replica ended (POST /v1/tasks/{taskId}/end; again for an ended task not counted).", () => tasks.stats.ended);
    }
    const approvals = sources.approvals;
    if (approvals) {
      counter("verdict_approval_requests_total", "Approval requests made by calls denied only by approvable forbids (docs/approvals.md).", () => approvals.stats.requested);
      new Counter({
        name: "verdict_approvals_decided_total",
        help: "Approval requests decided by a person through this replica, by outcome.",
        labelNames: ["outcome"],
        registers,
        collect() {
          this.reset();
          this.inc({ outcome: "approved" }, approvals.stats.approved);
          this.inc({ outcome: "denied" }, approvals.stats.denied);
        },
      });
      counter("verdict_approvals_used_total", "Approvals used by the identical call (each once), on this replica.", () => approvals.stats.used);
    }
    const webhook = sources.webhook;
    if (webhook) {
      new Counter({
        name: "verdict_approval_webhook_total",
        help: "Approval-request notifications to VERDICT_APPROVAL_WEBHOOK_URL, by outcome: sent, failed (retries given up), dropped (queue full or closing).",
        labelNames: ["outcome"],
        registers,
        collect() {
          this.reset();
          for (const outcome of ["sent", "failed", "dropped"] as const) this.inc({ outcome }, webhook.stats[outcome]);
        },
      });
    }
    if (sources.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Counts decisions made, after they were recorded (a request that got an error made none).
   * @param kind the endpoint family
   * @param items the decisions, one per evaluation (a batch gives several)
   * @param seconds the request's time until they were recorded (observed once per decision)
   */
  decided(kind: DecisionKind, items: readonly CountedDecision[], seconds: number | undefined): void {
    try {
      const ps = this.sources.policies.get();
      for (const d of items) {
        const pinnedServer = ps.servers.has(d.server);
        const server = pinnedServer ? d.server : UNKNOWN_LABEL;
        const tool = pinnedServer && ps.tools.has(`${d.server}/${d.tool}`) ? d.tool : UNKNOWN_LABEL;
        this.decisions.inc({ kind, decision: d.decision, server, tool });
        if (seconds !== undefined) this.seconds.observe({ kind }, seconds);
      }
    } catch {
      // Never fail a decided request over a counter.
    }
  }

  /** The decision log committed an INSERT of `rows` rows. */
  batchCommitted(rows: number): void {
    this.batchRows.observe(rows);
  }

  /** `rows` decision records were not written, for `reason`. */
  writeFailed(reason: WriteFailure, rows: number): void {
    this.writeErrors.inc({ reason }, rows);
  }

  /** The Prometheus text exposition of every metric, and its content type. */
  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
