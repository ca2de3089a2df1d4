/**
 * Replay (what-if): re-evaluates recorded decisions against a candidate policy set and reports
 * the flips, allow to deny and deny to allow, by tool and by agent, with examples.
 *
 * Records are read in pages ordered by (time, id), the next page fetched while the current one
 * is evaluated, and each is evaluated with the candidate's preparsed engine (answers to
 * requests that the candidate cannot tell apart are reused, see `AnswerMemo`):
 * - a `tools/call` that Cedar decided is re-evaluated from its recorded Cedar request
 *   (principal, action, resource, context), after the candidate's own checks (known agent,
 *   user, server, pinned tool), with the entity slice taken from the candidate's entities, so
 *   a change to `entities.json` shows in the replay;
 * - a `tools/call` that one of Verdict's checks denied (`verdict:*`: unknown tool, arguments
 *   that did not fit) never reached Cedar, so its request holds the raw arguments: it is
 *   re-evaluated as a new call with the recorded arguments, at its recorded time;
 * - an `authorize` request keeps the entities its caller supplied and gets the candidate's
 *   slice for the rest.
 */
import { and, asc, count, gte, lt, sql, type SQL } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { decisions } from "../db/schema.js";
import type { CedarRequest, DecisionError } from "../engine/cedar.js";
import { evaluateAuthorize, EntityConflictError } from "../pdp/authorize.js";
import { evaluateToolCall, requestUids } from "../pdp/tool-call.js";
import type { PolicySet } from "../policy-set/load.js";

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

const columns = {
  id: decisions.id,
  time: decisions.time,
  kind: decisions.kind,
  agent: decisions.agent,
  userId: decisions.userId,
  server: decisions.server,
  tool: decisions.tool,
  arguments: decisions.arguments,
  task: decisions.task,
  decision: decisions.decision,
  reasons: decisions.reasons,
  policySetVersion: decisions.policySetVersion,
  request: decisions.request,
};
type Row = {
  id: string;
  time: Date;
  kind: string;
  agent: string;
  userId: string | null;
  server: string;
  tool: string;
  arguments: unknown;
  task: unknown;
  decision: string;
  reasons: string[];
  policySetVersion: string;
  request: unknown;
};

type Outcome = { decision: "allow" | "deny"; reasons: string[]; errors: DecisionError[] };

const deny = (check: string): Outcome => ({ decision: "deny", reasons: [`verdict:${check}`], errors: [] });

/**
 * Memoizes Cedar's answers within one replay. Cedar is deterministic, so requests that agree on
 * everything the candidate can read get the same answer. A session attribute (such as
 * `requestTime`, different in nearly every record) whose name appears in no policy or template
 * of the candidate cannot be read by it (Cedar names attributes literally), so it is left out
 * of the key; the entity slice is determined by the agent, user and server ids.
 */
class AnswerMemo {
  private readonly answers = new Map<string, Outcome>();
  private readonly unread: string[];

  constructor(ps: PolicySet, private readonly capacity = 200_000) {
    const texts = [...ps.policies.values()].map((p) => p.text).join("\n");
    this.unread = ["requestTime", "hourUtc", "weekdayUtc", "client"].filter((a) => !texts.includes(a));
  }

  key(request: CedarRequest, userId: string | null): string {
    const session = { ...((request.context?.session ?? {}) as Record<string, unknown>) };
    for (const a of this.unread) delete session[a];
    return JSON.stringify([request.principal.id, request.action.id, request.resource.id, userId, request.context?.input, session]);
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
 * What the candidate decides for one recorded decision. Never throws: a failure is a deny.
 * @param memo answers already computed in this replay (see {@link AnswerMemo})
 */
function replayOne(ps: PolicySet, row: Row, memo?: AnswerMemo): Outcome {
  const request = row.request as CedarRequest;
  if (row.kind === "tools/call") {
    const session = (request.context?.session ?? {}) as { client?: string };
    if (row.reasons.some((r) => r.startsWith("verdict:"))) {
      const q = {
        agent: row.agent,
        user: row.userId ?? undefined,
        server: row.server,
        tool: row.tool,
        arguments: (row.arguments ?? {}) as Record<string, unknown>,
        task: (row.task ?? undefined) as { id: string; kind?: string } | undefined,
        client: session.client,
      };
      const e = evaluateToolCall(ps, q, row.time);
      return { decision: e.decision, reasons: e.reasons, errors: e.errors };
    }
    // A party a token proved need not be in entities.json; its entities (from the token) are in
    // the recorded slice, and are kept where the candidate's store does not define them.
    const verified = (session as { verified?: { agent?: boolean; user?: boolean } }).verified ?? {};
    if (!verified.agent && !ps.entities.get(request.principal)) return deny("unknown-agent");
    if (row.userId !== null && !verified.user && !ps.entities.get({ type: "Mcp::User", id: row.userId })) return deny("unknown-user");
    if (!ps.servers.has(row.server)) return deny("unknown-server");
    if (!ps.tools.has(request.action.id)) return deny("unknown-tool");
    const key = memo?.key(request, row.userId);
    const known = key === undefined ? undefined : memo!.get(key);
    if (known) return known;
    const slice = ps.entities.slice(requestUids({ agent: row.agent, user: row.userId ?? undefined, server: row.server }));
    const fromToken = (request.entities ?? []).filter((e) => !ps.entities.get(e.uid));
    const outcome = ps.engine.authorize({ ...request, entities: fromToken.length ? [...slice, ...fromToken] : slice });
    if (key !== undefined) memo!.set(key, outcome);
    return outcome;
  }
  const own = (request.entities ?? []).filter((e) => !ps.entities.get(e.uid));
  try {
    const e = evaluateAuthorize(ps, { principal: request.principal, action: request.action, resource: request.resource, context: request.context ?? {}, entities: own });
    return { decision: e.decision, reasons: e.reasons, errors: e.errors };
  } catch (e) {
    if (e instanceof EntityConflictError) return { decision: "deny", reasons: [], errors: [{ policyId: null, message: e.message }] };
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
  const range: SQL[] = [];
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
      const outcome = replayOne(candidate, row, memo);
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
          user: row.userId,
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
