/**
 * Recorded decisions in bulk, with known content, for replay tests and the replay benchmark:
 * one INSERT … SELECT over generate_series, so 100,000 rows take seconds, not minutes.
 *
 * Decision i (1-based) is recorded at `start + i` seconds and follows pattern `i % 10` of
 * {@link PATTERNS}: the request the example policy set decided as `decision`. The hash-chain
 * columns hold placeholders: replay does not read them.
 */
import { sql } from "drizzle-orm";
import type { Db } from "../../src/db/client.js";
import { ensureDecisionPartitions } from "../../src/decision-log/partitions.js";

/** One kind of recorded tools/call, and what the example policies decided for it. */
export interface Pattern {
  agent: string;
  server: string;
  tool: string;
  args: Record<string, unknown>;
  decision: "allow" | "deny";
  reasons: string[];
}

const read = (path: string): Pattern => ({ agent: "code-assistant", server: "filesystem", tool: "read_file", args: { path }, decision: "allow", reasons: ["allow-file-reads"] });
const graph: Pattern = { agent: "incident-bot", server: "memory", tool: "read_graph", args: {}, decision: "allow", reasons: ["allow-memory-reads"] };
const reportRead = (path: string): Pattern => ({ agent: "report-bot", server: "filesystem", tool: "read_file", args: { path }, decision: "deny", reasons: ["verdict:no-permit"] });
const echo: Pattern = { agent: "code-assistant", server: "everything", tool: "echo", args: { message: "hi" }, decision: "allow", reasons: ["allow-everything-demo-tools"] };
const getEnv: Pattern = { agent: "incident-bot", server: "everything", tool: "get-env", args: {}, decision: "deny", reasons: ["forbid-get-env"] };

/** Pattern of decision i is `PATTERNS[i % 10]`. */
export const PATTERNS: readonly Pattern[] = [
  read("/srv/runbooks/a.md"),
  graph,
  reportRead("/srv/reports/q3.md"),
  echo,
  getEnv,
  read("/srv/runbooks/b.md"),
  graph,
  reportRead("/srv/other/x.md"),
  echo,
  getEnv,
];

/**
 * A candidate's extra policies: report-bot may read reports (pattern 2 flips deny→allow), and
 * incident-bot loses the knowledge graph (patterns 1 and 6 flip allow→deny).
 */
export const CANDIDATE_POLICIES = `@id("report-bot-reads-reports")
permit (principal == Mcp::Agent::"report-bot", action == Mcp::Action::"filesystem/read_file", resource)
when { context.input.path like "/srv/reports/*" };

@id("no-graph-for-incident-bot")
forbid (principal == Mcp::Agent::"incident-bot", action == Mcp::Action::"memory/read_graph", resource);
`;

/** The flips {@link CANDIDATE_POLICIES} cause among decisions `from..to` (inclusive). */
export function expectedFlips(from: number, to: number): { allowToDeny: number; denyToAllow: number } {
  let allowToDeny = 0;
  let denyToAllow = 0;
  for (let i = from; i <= to; i++) {
    if (i % 10 === 1 || i % 10 === 6) allowToDeny++;
    else if (i % 10 === 2) denyToAllow++;
  }
  return { allowToDeny, denyToAllow };
}

/**
 * Inserts decisions 1..count (see the module comment).
 * @param opts.distinct make the arguments of every read and echo unique (a path or message
 *   suffixed with i), so that a replay cannot reuse answers across them; the flips stay the same
 */
export async function insertSyntheticDecisions(db: Db, opts: { count: number; start: Date; version: string; distinct?: boolean }): Promise<void> {
  // The decisions table is partitioned by day: create the days these records fall on.
  await ensureDecisionPartitions(db, opts.start, new Date(opts.start.getTime() + (opts.count + 1) * 1000));
  const patterns = JSON.stringify(PATTERNS.map((p, k) => ({ k, ...p })));
  // In chunks: one 100,000-row statement took over the pool's 10 s query timeout on a loaded
  // machine (the trigram and search indexes are built row by row).
  for (let first = 1; first <= opts.count; first += SYNTHETIC_CHUNK) {
    const last = Math.min(opts.count, first + SYNTHETIC_CHUNK - 1);
    await insertChunk(db, opts, patterns, first, last);
  }
}

/** Rows per INSERT of {@link insertSyntheticDecisions}. */
const SYNTHETIC_CHUNK = 10_000;

async function insertChunk(db: Db, opts: { start: Date; version: string; distinct?: boolean }, patterns: string, first: number, last: number): Promise<void> {
  await db.execute(sql`
    INSERT INTO decisions (id, time, kind, agent, user_id, server, tool, action, arguments, arguments_sha256, decision, reasons,
      errors, obligations, policy_set_version, evaluation_micros, request, stream, seq, hash)
    SELECT gen_random_uuid(), g.t, 'tools/call', p.agent, NULL, p.server, p.tool,
      'Mcp::Action::"' || p.server || '/' || p.tool || '"', a.args, 'synthetic', p.decision,
      ARRAY(SELECT jsonb_array_elements_text(p.reasons)), '[]'::jsonb, '[]'::jsonb, ${opts.version}, 0,
      jsonb_build_object(
        'principal', jsonb_build_object('type', 'Mcp::Agent', 'id', p.agent),
        'action', jsonb_build_object('type', 'Mcp::Action', 'id', p.server || '/' || p.tool),
        'resource', jsonb_build_object('type', 'Mcp::Server', 'id', p.server),
        'context', jsonb_build_object('input', a.args, 'session', jsonb_build_object(
          'requestTime', extract(epoch FROM g.t)::bigint,
          'hourUtc', extract(hour FROM g.t AT TIME ZONE 'UTC')::int,
          'weekdayUtc', extract(isodow FROM g.t AT TIME ZONE 'UTC')::int,
          'verified', jsonb_build_object('agent', false, 'user', false))),
        'entities', '[]'::jsonb),
      '00000000-0000-7000-8000-000000000000'::uuid, g.i, 'synthetic'
    FROM (SELECT i, ${opts.start}::timestamptz + i * interval '1 second' AS t FROM generate_series(${first}::int, ${last}::int) AS i) g
    JOIN jsonb_to_recordset(${patterns}::jsonb) AS p(k int, agent text, server text, tool text, args jsonb, decision text, reasons jsonb)
      ON p.k = g.i % 10
    CROSS JOIN LATERAL (SELECT CASE
      WHEN ${opts.distinct ?? false} AND p.args ? 'path' THEN jsonb_set(p.args, '{path}', to_jsonb((p.args->>'path') || '.' || g.i))
      WHEN ${opts.distinct ?? false} AND p.args ? 'message' THEN jsonb_set(p.args, '{message}', to_jsonb('hi ' || g.i))
      ELSE p.args END AS args) a
  `);
}
