/**
 * Ways for tests to fill the decision record: real evaluations appended through the decision log
 * (with a chosen caller or time), and bulk rows generated in SQL with `generate_series`, for
 * volume tests and the EXPLAIN benchmark.
 */
import { sql } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import type { Db } from "../../src/db/client.js";
import type { DecisionLog } from "../../src/decision-log/writer.js";
import { ensureDecisionPartitions } from "../../src/decision-log/partitions.js";
import type { DecisionRecord } from "../../src/decision-log/record.js";
import { toRecord } from "../../src/pdp/decide.js";
import { evaluateToolCall, type ToolCallQuestion } from "../../src/pdp/tool-call.js";
import type { PolicySet } from "../../src/policy/policy-set.js";

/** Evaluates a tool call with the real engine and appends its record, as the API would. */
export function recordToolCall(
  log: DecisionLog,
  ps: PolicySet,
  q: ToolCallQuestion,
  meta: { caller?: string; requestId?: string; time?: Date } = {},
): Promise<DecisionRecord> {
  const time = meta.time ?? new Date();
  return log.append(
    toRecord(evaluateToolCall(ps, q, time), { id: uuidv7(), time, caller: meta.caller ?? null, requestId: meta.requestId ?? null, delegation: [], identity: null, credentialJti: null }),
  );
}

/** Rows per INSERT of {@link bulkInsertDecisions}. */
const BULK_CHUNK = 20_000;

/**
 * Inserts `count` synthetic decisions in one SQL statement, spread evenly over `[from, to)`.
 * Row i: agent `agent-<i % 50>`, user `user-<i % 200>`, server `server-<i % 5>`, tool
 * `tool-<i % 40>`, a deny for every 7th, reasons `[policy-<i % 10>]`, caller `key-<i % 20>`,
 * request id `req-<i>`, task `T-<i % 1000>`, arguments `{path: "/srv/data/<i>"}` (`/etc/…` for
 * every 1000th), and a `request` of `{pad: <padBytes of "x">}` (padding kept out of the arguments'
 * trigram index, which would make the insert slow). One stream whose hashes are not a valid chain.
 */
export async function bulkInsertDecisions(db: Db, opts: { count: number; from: Date; to: Date; padBytes?: number }): Promise<void> {
  await ensureDecisionPartitions(db, opts.from, opts.to);
  const stepMs = (opts.to.getTime() - opts.from.getTime()) / opts.count;
  const stream = uuidv7();
  // In chunks: the pool's query timeout (10 s) bounds one statement, and 1M rows take longer.
  for (let first = 1; first <= opts.count; first += BULK_CHUNK) {
    const last = Math.min(opts.count, first + BULK_CHUNK - 1);
    await db.execute(sql`
    INSERT INTO decisions (id, time, kind, agent, user_id, delegation, server, tool, action, arguments,
      arguments_sha256, task, task_id, decision, reasons, errors, obligations, message,
      policy_set_version, caller, request_id, evaluation_micros, request, stream, seq, prev_hash, hash)
    SELECT gen_random_uuid(), ${opts.from.toISOString()}::timestamptz + (i::float8 * ${stepMs}::float8) * interval '1 millisecond',
      'tools/call', 'agent-' || (i % 50), 'user-' || (i % 200), '[]'::jsonb,
      'server-' || (i % 5), 'tool-' || (i % 40), 'Mcp::Action::"server-' || (i % 5) || '/tool-' || (i % 40) || '"',
      jsonb_build_object('path', CASE WHEN i % 1000 = 0 THEN '/etc/shadow-' ELSE '/srv/data/' END || i),
      md5(i::text), jsonb_build_object('id', 'T-' || (i % 1000)), 'T-' || (i % 1000),
      CASE WHEN i % 7 = 0 THEN 'deny' ELSE 'allow' END, ARRAY['policy-' || (i % 10)], '[]'::jsonb, '[]'::jsonb,
      NULL, 'sha256:bulk', 'key-' || (i % 20), 'req-' || i, 100 + i % 50,
      jsonb_build_object('pad', repeat('x', ${opts.padBytes ?? 64})),
      ${stream}::uuid, i, md5((i - 1)::text), md5(i::text)
    FROM generate_series(${first}::int, ${last}::int) AS i`);
  }
}
