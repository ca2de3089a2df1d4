/**
 * Replay (what-if): re-evaluates recorded decisions against a candidate policy set and reports
 * the flips, allow to deny and deny to allow, by tool and by agent, with examples.
 *
 * Records are read in pages ordered by (time, id), the next page fetched while the current one
 * is evaluated, and each is evaluated with the candidate's preparsed engine (answers to
 * requests that the candidate cannot tell apart are reused, see `AnswerMemo`):
 * - a decision denied for its identity (a refused token, a mismatch, a proof that
 *   `VERDICT_REQUIRE_VERIFIED` demanded) stays as it was: no policy set changes a token;
 * - a `tools/call` goes through the very checks `tools/call` makes (`checkToolCall` in
 *   src/pdp/checks.ts: known agent and user, pinned server and tool, open tool drift, the
 *   recorded arguments against the candidate's pinned inputSchema), with the parties as the
 *   record says they were identified (verified or asserted, a token's groups), and then Cedar
 *   with the recorded `context.session` and the slice of the candidate's entities
 *   (`authorizeToolCall`, as tools/call), so a change to a catalog or `entities.json` shows.
 *   Task memory is not re-read: the candidate sees the `context.session.history` recorded with
 *   the decision (the counts the production decision saw, from the log as it was then), so a
 *   replay is deterministic and a candidate's history rule is judged on what each call really
 *   followed. A record without `history` (its policy set read none, or it predates task memory)
 *   is replayed with the history of a first call (0 calls, no actions), which a candidate that
 *   reads history may judge otherwise than a live call would (docs/task-memory.md);
 * - an `authorize` request keeps the entities its caller supplied and gets the candidate's
 *   slice for the rest (`evaluateAuthorize`, as `/v1/authorize`).
 */
import { and, asc, count, gte, inArray, lt, sql, type SQL } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { decisions } from "../db/schema.js";
import { selectFields, type StoredFields } from "../decision-log/row.js";
import { DECISION_KINDS } from "../decision-log/record.js";
import type { RecordedIdentity } from "../contract/decision-log.js";
import { REASONS } from "../contract/reasons.js";
import type { CedarRequest, DecisionError } from "../cedar/types.js";
import { identityEntities } from "../identity/entities.js";
import { isIdentityFailureReason, type ResolvedIdentity } from "../identity/resolve.js";
import { evaluateAuthorize, EntityConflictError } from "../pdp/authorize.js";
import { checkToolCall, isFailure, type CheckedCall, type DriftLookup } from "../pdp/checks.js";
import { authorizeToolCall, requestUids } from "../pdp/tool-call.js";
import { approvableDeny } from "../pdp/approvable.js";
import type { PolicySet } from "../policy/policy-set.js";

/** What to replay. */
export interface ReplayOptions {
  /** Inclusive lower bound of the decisions' time; unbounded when absent. */
  since?: Date;
  /** Exclusive upper bound of the decisions' time; unbounded when absent. */
  until?: Date;
  /** Records read per query (default 2,000). */
  pageSize?: number;
  /** Examples kept per direction (default 10). */
  examples?: number;
  /** Called after each page. */
  onProgress?: (p: ReplayProgress) => void;
  /**
   * Open tool drift (the server's `ToolDriftRegistry.lookup`), checked against the candidate's
   * pinned hashes as `tools/call` checks it; absent: no drift.
   */
  drift?: DriftLookup;
}

/** How far a replay has got. */
export interface ReplayProgress {
  replayed: number;
  /** Decisions in the time range when the replay started. */
  total: number;
  allowToDeny: number;
  denyToAllow: number;
  elapsedMs: number;
}

/** Flip counts of one group (a tool or an agent). */
export interface FlipCounts {
  allowToDeny: number;
  denyToAllow: number;
}

/** One decision that the candidate would decide differently. */
export interface FlipExample {
  decisionId: string;
  time: string;
  agent: string;
  user: string | null;
  server: string;
  tool: string;
  recorded: { decision: "allow" | "deny"; reasons: string[]; policySetVersion: string };
  candidate: { decision: "allow" | "deny"; reasons: string[]; errors: DecisionError[] };
}

/** The outcome of a replay. */
export interface ReplayReport {
  candidate: string;
  since: string | null;
  until: string | null;
  replayed: number;
  unchanged: number;
  flips: FlipCounts;
  /** Tools with at least one flip, most flips first. */
  byTool: Array<{ server: string; tool: string } & FlipCounts>;
  /** Agents with at least one flip, most flips first. */
  byAgent: Array<{ agent: string } & FlipCounts>;
  examples: { allowToDeny: FlipExample[]; denyToAllow: FlipExample[] };
  durationMs: number;
  /** Replayed decisions per second. */
  perSecond: number;
}

/** The fields of a record that replay reads. */
const REPLAYED = ["id", "time", "kind", "agent", "user", "server", "tool", "arguments", "task", "decision", "reasons", "obligations", "policySetVersion", "request", "identity"] as const;
const columns = selectFields(REPLAYED);
type Row = Pick<StoredFields, (typeof REPLAYED)[number]>;

type Outcome = { decision: "allow" | "deny"; reasons: string[]; errors: DecisionError[] };

/**
 * Memoizes Cedar's answers within one replay. Cedar is deterministic, so requests that agree on
 * everything the candidate can read get the same answer. A session attribute (such as
 * `requestTime`, different in nearly every record) whose name appears in no policy or template
 * of the candidate cannot be read by it (Cedar names attributes literally), so it is left out
 * of the key; the entity slice is determined by the agent, user and server ids and the groups
 * a token gave them.
 */
class AnswerMemo {
  private readonly answers = new Map<string, Outcome>();
  private readonly unread: string[];

  constructor(ps: PolicySet, private readonly capacity = 200_000) {
    const texts = [...ps.policies.values()].map((p) => p.text).join("\n");
    this.unread = ["requestTime", "hourUtc", "weekdayUtc", "client"].filter((a) => !texts.includes(a));
  }

  /** Everything a tools/call's checks and Cedar answer depend on (drift is fixed for a replay). */
  key(q: CheckedCall, session: Record<string, unknown>, identity: ResolvedIdentity): string {
    const s = { ...session };
    for (const a of this.unread) delete s[a];
    const groups = [identity.agent.verified, identity.agent.groups, identity.user?.verified, identity.user?.groups];
    return JSON.stringify([q.agent, q.server, q.tool, q.user ?? null, q.arguments, s, groups]);
  }

  get(key: string): Outcome | undefined {
    return this.answers.get(key);
  }

  set(key: string, outcome: Outcome): void {
    if (this.answers.size >= this.capacity) this.answers.clear();
    this.answers.set(key, outcome);
  }
}

/**
 * The parties of a recorded tools/call as they were identified: verified or asserted (the
 * record's `identity`, else `context.session.verified`), with the groups a token gave them.
 */
function recordedIdentity(row: Row, session: Record<string, unknown>): ResolvedIdentity {
  const recorded = row.identity as RecordedIdentity | null;
  const verified = (session.verified ?? {}) as { agent?: boolean; user?: boolean };
  const party = (id: string, p: RecordedIdentity["agent"] | null | undefined, v: boolean | undefined) => ({
    id,
    verified: p?.verified ?? v === true,
    groups: p?.groups ?? [],
  });
  return {
    agent: party(row.agent, recorded?.agent, verified.agent),
    user: row.user === null ? null : party(row.user, recorded?.user, verified.user),
    delegation: [],
    failure: null,
  };
}

/** Whether a record's obligations name an approval it used (an allow by approval, src/approvals/). */
function usedApproval(obligations: unknown): boolean {
  return Array.isArray(obligations) && obligations.some((o) => (o as { type?: unknown; status?: unknown })?.type === "approval" && (o as { status?: unknown }).status === "used");
}

/**
 * What the candidate decides for one recorded decision. Never throws: a failure is a deny.
 * @param memo answers already computed in this replay (see {@link AnswerMemo})
 * @param drift open tool drift, as tools/call sees it
 */
function replayOne(ps: PolicySet, row: Row, memo?: AnswerMemo, drift?: DriftLookup): Outcome {
  const request = row.request as CedarRequest;
  const identityFailure = row.decision === "deny" ? row.reasons.find(isIdentityFailureReason) : undefined;
  if (identityFailure) return { decision: "deny", reasons: [identityFailure], errors: [] };
  // The task had ended when it was asked: a fact of the record, as a refused token is.
  if (row.decision === "deny" && row.reasons.includes(REASONS.taskEnded)) return { decision: "deny", reasons: [REASONS.taskEnded], errors: [] };
  if (row.kind === "tools/call") {
    const session = (request.context?.session ?? {}) as Record<string, unknown>;
    const identity = recordedIdentity(row, session);
    const q: CheckedCall = {
      agent: row.agent,
      user: row.user ?? undefined,
      server: row.server,
      tool: row.tool,
      arguments: (row.arguments ?? {}) as Record<string, unknown>,
    };
    // An allow by approval is answered apart (below): its request alone does not say the approval was there.
    const byApproval = row.decision === "allow" && usedApproval(row.obligations);
    const key = byApproval ? undefined : memo?.key(q, session, identity);
    const known = key === undefined ? undefined : memo!.get(key);
    if (known) return known;
    let outcome: Outcome;
    const checked = checkToolCall(ps, q, identity, drift);
    if (isFailure(checked)) {
      outcome = { decision: "deny", reasons: [checked.reason], errors: [] };
    } else {
      const request: CedarRequest = {
        principal: { type: "Mcp::Agent", id: q.agent },
        action: { type: "Mcp::Action", id: checked.tool.actionId },
        resource: { type: "Mcp::Server", id: q.server },
        context: { input: checked.input, session },
        entities: identityEntities(ps.entities, requestUids(q), identity),
      };
      const answer = authorizeToolCall(ps, checked.tool, request);
      outcome = { decision: answer.decision, reasons: answer.reasons, errors: answer.errors };
      // An allow that used an approval of the exact call: the candidate allows it too when its
      // deny is one an approval lifts (the approval was given; replay does not ask again).
      if (byApproval && answer.decision === "deny") {
        const approvable = approvableDeny(ps, checked.tool, request, answer, (engine, tool, r) => authorizeToolCall(ps, tool, r, { engine }));
        if (approvable) return { decision: "allow", reasons: approvable.allowedBy, errors: [] };
      }
    }
    if (key !== undefined) memo!.set(key, outcome);
    return outcome;
  }
  const own = (request.entities ?? []).filter((e) => !ps.entities.get(e.uid));
  try {
    const e = evaluateAuthorize(ps, { principal: request.principal, action: request.action, resource: request.resource, context: request.context ?? {}, entities: own }, row.time);
    return { decision: e.decision, reasons: e.reasons, errors: e.errors };
  } catch (e) {
    // The request would now be refused (400): no allow.
    if (e instanceof EntityConflictError) return { decision: "deny", reasons: [REASONS.entityConflict], errors: [{ policyId: null, message: e.message }] };
    throw e;
  }
}

function bump<K>(map: Map<K, FlipCounts>, k: K, dir: keyof FlipCounts): void {
  let c = map.get(k);
  if (!c) map.set(k, (c = { allowToDeny: 0, denyToAllow: 0 }));
  c[dir]++;
}

const byFlips = (a: FlipCounts, b: FlipCounts) => b.allowToDeny + b.denyToAllow - (a.allowToDeny + a.denyToAllow);

/**
 * Replays the recorded decisions of a time range against a candidate policy set.
 * @throws when the database cannot be read
 */
export async function replay(db: Db, candidate: PolicySet, opts: ReplayOptions = {}): Promise<ReplayReport> {
  const started = performance.now();
  const pageSize = opts.pageSize ?? 2_000;
  const keep = opts.examples ?? 10;
  // Decisions only: a `task/end` record answered no question to replay.
  const range: SQL[] = [inArray(decisions.kind, DECISION_KINDS)];
  if (opts.since) range.push(gte(decisions.time, opts.since));
  if (opts.until) range.push(lt(decisions.time, opts.until));
  const [{ n: total } = { n: 0 }] = await db
    .select({ n: count() })
    .from(decisions)
    .where(range.length ? and(...range) : undefined);

  const page = (after: Row | null): Promise<Row[]> => {
    const where = [...range];
    if (after) where.push(sql`(${decisions.time}, ${decisions.id}) > (${after.time.toISOString()}::timestamptz, ${after.id}::uuid)`);
    return db
      .select(columns)
      .from(decisions)
      .where(where.length ? and(...where) : undefined)
      .orderBy(asc(decisions.time), asc(decisions.id))
      .limit(pageSize) as Promise<Row[]>;
  };

  const flips: FlipCounts = { allowToDeny: 0, denyToAllow: 0 };
  const tools = new Map<string, FlipCounts>();
  const agents = new Map<string, FlipCounts>();
  const examples: ReplayReport["examples"] = { allowToDeny: [], denyToAllow: [] };
  let replayed = 0;
  const memo = new AnswerMemo(candidate);

  let rows = await page(null);
  while (rows.length) {
    const next = rows.length === pageSize ? page(rows[rows.length - 1]!) : Promise.resolve([]);
    for (const row of rows) {
      const outcome = replayOne(candidate, row, memo, opts.drift);
      replayed++;
      if (outcome.decision === row.decision) continue;
      const dir: keyof FlipCounts = row.decision === "allow" ? "allowToDeny" : "denyToAllow";
      flips[dir]++;
      bump(tools, `${row.server}/${row.tool}`, dir);
      bump(agents, row.agent, dir);
      if (examples[dir].length < keep) {
        examples[dir].push({
          decisionId: row.id,
          time: row.time.toISOString(),
          agent: row.agent,
          user: row.user,
          server: row.server,
          tool: row.tool,
          recorded: { decision: row.decision as "allow" | "deny", reasons: row.reasons, policySetVersion: row.policySetVersion },
          candidate: outcome,
        });
      }
    }
    opts.onProgress?.({ replayed, total, ...flips, elapsedMs: Math.round(performance.now() - started) });
    rows = await next;
  }

  const durationMs = performance.now() - started;
  return {
    candidate: candidate.version,
    since: opts.since?.toISOString() ?? null,
    until: opts.until?.toISOString() ?? null,
    replayed,
    unchanged: replayed - flips.allowToDeny - flips.denyToAllow,
    flips,
    byTool: [...tools]
      .map(([id, c]) => ({ server: id.slice(0, id.indexOf("/")), tool: id.slice(id.indexOf("/") + 1), ...c }))
      .sort(byFlips),
    byAgent: [...agents].map(([agent, c]) => ({ agent, ...c })).sort(byFlips),
    examples,
    durationMs: Math.round(durationMs),
    perSecond: Math.round(replayed / (durationMs / 1000 || 1)),
  };
}
