/**
 * Tool drift: tools whose definition, as a gateway's `tools/list` reported it, differs from the
 * pinned one (DESIGN.md "Cedar model": name, description, inputSchema, annotations). Each drift
 * is recorded in `tool_drift` and kept in memory, so that `tools/call` denies the tool on every
 * replica until a version that pins a different definition is in force (someone re-pinned).
 */
import { sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { toolDrift } from "../db/policy-sets-schema.js";
import type { DriftReport } from "../pdp/tool-list.js";
import type { PolicySet } from "../policy/policy-set.js";

/** Channel notified when a replica records drift, so the others refresh without waiting for a poll. */
export const DRIFT_CHANNEL = "verdict_tool_drift";

/** One recorded drift, as listed by `GET /v1/tools/drift`. */
export interface DriftEntry {
  server: string;
  tool: string;
  pinnedHash: string;
  reportedHash: string;
  reported: unknown;
  /** True while the version in force still pins `pinnedHash` for this tool. */
  open: boolean;
  policySetVersion: string;
  firstSeenAt: string;
  lastSeenAt: string;
  firstAgent: string;
  seen: number;
}

const key = (actionId: string, pinnedHash: string) => `${actionId}\n${pinnedHash}`;

export class ToolDriftRegistry {
  private known = new Map<string, string>();

  constructor(private readonly db: Db) {}

  /**
   * The reported hash of open drift for a tool pinned with `pinnedHash`, or undefined.
   * Synchronous: read on every `tools/call`.
   */
  readonly lookup = (actionId: string, pinnedHash: string): string | undefined => this.known.get(key(actionId, pinnedHash));

  /** Reloads the drift every replica recorded. */
  async refresh(): Promise<void> {
    const rows = await this.db
      .select({ server: toolDrift.server, tool: toolDrift.tool, pinnedHash: toolDrift.pinnedHash, reportedHash: toolDrift.reportedHash })
      .from(toolDrift)
      .orderBy(toolDrift.lastSeenAt);
    const next = new Map<string, string>();
    for (const r of rows) next.set(key(`${r.server}/${r.tool}`, r.pinnedHash), r.reportedHash);
    this.known = next;
  }

  /**
   * Records drift reported by a `tools/list` (an upsert per tool: first seen, last seen, count)
   * and notifies the other replicas.
   * @throws when the database cannot record it (the tools stay hidden either way)
   */
  async record(server: string, reports: DriftReport[], agent: string, policySetVersion: string, now: Date): Promise<void> {
    for (const r of reports) this.known.set(key(`${server}/${r.tool.name}`, r.pinnedHash), r.reportedHash);
    await this.db.transaction(async (tx) => {
      await tx
        .insert(toolDrift)
        .values(
          reports.map((r) => ({
            server,
            tool: r.tool.name,
            pinnedHash: r.pinnedHash,
            reportedHash: r.reportedHash,
            reported: r.tool,
            policySetVersion,
            firstSeenAt: now,
            lastSeenAt: now,
            firstAgent: agent,
          })),
        )
        .onConflictDoUpdate({
          target: [toolDrift.server, toolDrift.tool, toolDrift.pinnedHash, toolDrift.reportedHash],
          set: { lastSeenAt: now, seen: sql`${toolDrift.seen} + 1` },
        });
      await tx.execute(sql`SELECT pg_notify(${DRIFT_CHANNEL}, ${server})`);
    });
  }

  /**
   * Recorded drift, most recently seen first, each marked open or resolved against `ps`.
   * @param includeResolved also list drift that a re-pin has resolved
   */
  async list(ps: PolicySet, includeResolved = false): Promise<DriftEntry[]> {
    const rows = await this.db.select().from(toolDrift).orderBy(sql`${toolDrift.lastSeenAt} DESC`);
    return rows
      .map((r) => ({
        server: r.server,
        tool: r.tool,
        pinnedHash: r.pinnedHash,
        reportedHash: r.reportedHash,
        reported: r.reported,
        open: ps.tools.get(`${r.server}/${r.tool}`)?.definitionHash === r.pinnedHash,
        policySetVersion: r.policySetVersion,
        firstSeenAt: r.firstSeenAt.toISOString(),
        lastSeenAt: r.lastSeenAt.toISOString(),
        firstAgent: r.firstAgent,
        seen: r.seen,
      }))
      .filter((e) => includeResolved || e.open);
  }
}
