/**
 * `npm run bench -- --history`: what task memory costs. Verdict (1 worker, Postgres, every
 * decision recorded) on the HTTP benchmark's workload, twice, each on a fresh database:
 * - `without`: the workload's policies (none reads `context.session.history`: no history read);
 * - `with`: the same plus one forbid on every tool that reads every history field and never
 *   fires, so both runs give the same answers and every decision of `with` reads its history
 *   (one statement on the decision log, under its task's lock, before it is decided).
 * Prints decisions/s, p99 and Verdict's processor time per decision for both, their difference
 * (the added processor time per decision; Postgres's own time is not in it), and the plan and
 * execution time of the history statement on the table the `with` run filled
 * (`EXPLAIN (ANALYZE, BUFFERS)`, one sample key); writes `tools/bench/results/`.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/node-postgres";
import { sql } from "drizzle-orm";
import pg from "pg";
import { historyStatement } from "../../src/decision-log/history.js";
import { measureVerdict, type HttpBenchOptions, type RunFigures } from "./http.js";
import { machine, ROOT, writeResult } from "./support.js";
import { generateWorkload, writeWorkload } from "./workload.js";

/** The forbid of the `with` run: reads all five fields, fires for no realistic history. */
export const HISTORY_POLICY = `@id("bench-history")
forbid (principal, action in Mcp::Action::"call_tool", resource)
when {
  context.session.history.calls >= 1000000 ||
  context.session.history.toolCalls >= 1000000 ||
  context.session.history.actions.contains("never/never") ||
  context.session.history.agentToolCallsLastHour >= 1000000 ||
  context.session.history.userToolCallsLastHour >= 1000000
};
`;

/** Nodes of an `EXPLAIN (FORMAT JSON)` plan, depth first. */
function planNodes(plan: Record<string, unknown>, out: Array<Record<string, unknown>> = []): Array<Record<string, unknown>> {
  out.push(plan);
  for (const p of (plan.Plans as Array<Record<string, unknown>> | undefined) ?? []) planNodes(p, out);
  return out;
}

/** Runs the history benchmark (without, then with) and prints both. */
export async function historyBench(opts: HttpBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "verdict-bench-history-"));
  const admin = new pg.Client({ connectionString: opts.databaseUrl });
  await admin.connect();
  const result: Record<string, unknown> = { mode: "history", machine: machine(), options: opts };
  const dbNames: string[] = [];
  try {
    const w = generateWorkload({ extraPolicies: opts.extraPolicies });
    const bodies = w.questions.map((q) => JSON.stringify(q));
    const sample = w.questions.slice(0, 50);
    const modes = [
      { name: "without", policies: w.policies },
      { name: "with", policies: { ...w.policies, "history.cedar": HISTORY_POLICY } },
    ];
    let lastDb: URL | undefined;
    const answers: Record<string, string[]> = {};
    for (const mode of modes) {
      const { policyDir, schemaDir } = writeWorkload({ ...w, policies: mode.policies }, join(dir, mode.name), join(ROOT, "schema", "mcp.cedarschema"));
      const dbName = `verdict_bench_${randomBytes(5).toString("hex")}`;
      dbNames.push(dbName);
      await admin.query(`CREATE DATABASE ${dbName}`);
      const dbUrl = new URL(opts.databaseUrl);
      dbUrl.pathname = `/${dbName}`;
      lastDb = dbUrl;
      console.log(`history ${mode.name}:`);
      // The decision cache off: the 2,000 bodies are sent over and over, and answers from the
      // cache would hide part of the cost this measures.
      const measured = await measureVerdict({ dir: join(dir, mode.name), dbUrl, policyDir, schemaDir, bodies, sample, opts, workers: 1, env: { VERDICT_DECISION_CACHE: "off" }, label: `history-${mode.name}` });
      answers[mode.name] = measured.decisions;
      result[mode.name] = measured.figures;
    }
    const same = JSON.stringify(answers.without) === JSON.stringify(answers.with);
    console.log(`answers to the agreement sample identical with and without the history policy: ${same}`);
    if (!same) throw new Error("the history policy changed answers; the comparison would not be like for like");

    // The statement's plan on the table the `with` run filled.
    const pool = new pg.Pool({ connectionString: lastDb!.toString(), max: 1 });
    try {
      const db = drizzle(pool);
      const q = w.questions.find((x) => x.task && x.user) ?? w.questions[0]!;
      const rows = (await db.execute(sql`SELECT count(*)::int AS n FROM decisions`)).rows as Array<{ n: number }>;
      const res = await db.execute(sql`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${historyStatement({ agent: q.agent, user: q.user, server: q.server, tool: q.tool, taskId: q.task?.id }, new Date())}`);
      const explained = (res.rows[0] as { "QUERY PLAN": Array<{ Plan: Record<string, unknown>; "Execution Time": number }> })["QUERY PLAN"][0]!;
      const nodes = planNodes(explained.Plan);
      const indexes = [...new Set(nodes.map((n) => n["Index Name"]).filter((x): x is string => typeof x === "string"))].sort();
      const seqScans = nodes.filter((n) => n["Node Type"] === "Seq Scan").map((n) => n["Relation Name"]);
      console.log(`history statement on ${rows[0]!.n} rows: ${explained["Execution Time"]} ms; indexes ${indexes.join(", ")}; sequential scans: ${seqScans.length ? seqScans.join(", ") : "none"}`);
      result.statement = { rows: rows[0]!.n, executionMs: explained["Execution Time"], indexes, seqScans };
    } finally {
      await pool.end();
    }

    const top = Math.max(...opts.connections);
    for (const c of opts.connections) {
      const at = (mode: string) => ((result[mode] as { runs: RunFigures[] }).runs ?? []).find((r) => r.connections === c);
      const a = at("without");
      const b = at("with");
      const added = a?.cpuUsPerAnswer != null && b?.cpuUsPerAnswer != null ? b.cpuUsPerAnswer - a.cpuUsPerAnswer : null;
      console.log(
        `at ${c} connections: without ${a?.perSecond}/s p99 ${a?.p99Ms} ms ${a?.cpuUsPerAnswer} µs/decision; with ${b?.perSecond}/s p99 ${b?.p99Ms} ms ${b?.cpuUsPerAnswer} µs/decision; added ${added} µs of Verdict's processor time per decision`,
      );
      if (c === top) result.addedCpuUsPerDecision = added;
    }
    console.log(`results: ${writeResult("history", result)}`);
    rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    console.error(`benchmark failed; logs of the servers are kept in ${dir}`);
    throw e;
  } finally {
    for (const name of dbNames) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
}
