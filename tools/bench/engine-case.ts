/**
 * One case of the engine benchmark, run in its own process so that its memory is its own:
 * loads the generated workload with the given extra policies and users, then times decisions.
 * Argument: JSON `{"extraPolicies": n, "extraUsers": n, "passes": n, "plain": bool}`, or
 * `{"cache": "task-shaped" | "all-distinct"}`: that workload's stream of calls decided in order
 * without and with a fresh decision cache, twice, alternately.
 * Prints one JSON line of figures (microseconds, MiB).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DecisionCache } from "../../src/cedar/decision-cache.js";
import { PreparedEngine } from "../../src/cedar/engine.js";
import { engineRequest, evaluateToolCall } from "../../src/pdp/tool-call.js";
import { loadPolicySet } from "../../src/policy/build.js";
import { percentile, ROOT } from "./support.js";
import { generateWorkload, taskShapedQuestions, writeWorkload, type Question } from "./workload.js";
import type { PolicySet } from "../../src/policy/policy-set.js";

const opts = JSON.parse(process.argv[2] ?? "{}") as { extraPolicies?: number; extraUsers?: number; passes?: number; plain?: boolean; questions?: number; cache?: "task-shaped" | "all-distinct" };
const dir = mkdtempSync(join(tmpdir(), "verdict-bench-engine-"));

/** Decides `stream` in order (each call at its own instant, as a server would), returning the µs of each decision. */
function decideAll(ps: PolicySet, stream: Question[]): number[] {
  const out: number[] = [];
  const start = Date.now();
  for (const [i, q] of stream.entries()) {
    const now = new Date(start + i);
    const t = process.hrtime.bigint();
    evaluateToolCall(ps, q, now);
    out.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  return out;
}

const mean = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);

try {
  if (opts.cache) {
    const w = generateWorkload({ distinct: opts.cache === "all-distinct", questions: 8000 });
    const stream = opts.cache === "task-shaped" ? taskShapedQuestions(w, { calls: 8000 }).questions : w.questions;
    const { policyDir, schemaDir } = writeWorkload(w, dir, join(ROOT, "schema", "mcp.cedarschema"));
    const ps = loadPolicySet(policyDir, schemaDir);
    decideAll(ps, stream.slice(0, 1000)); // warm-up (JIT), without a cache
    const without: number[] = [];
    const withCache: number[] = [];
    let hits = 0;
    let lookups = 0;
    for (let round = 0; round < 2; round++) {
      ps.engine.useDecisionCache(null);
      without.push(...decideAll(ps, stream));
      const cache = new DecisionCache({ maxEntries: 100_000, maxBytes: 64 * 2 ** 20 });
      ps.engine.useDecisionCache(cache);
      withCache.push(...decideAll(ps, stream));
      hits += cache.stats.hits;
      lookups += cache.stats.hits + cache.stats.misses;
    }
    without.sort((a, b) => a - b);
    withCache.sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        workload: opts.cache,
        calls: stream.length,
        hitRate: Number((hits / lookups).toFixed(3)),
        withoutMeanUs: mean(without),
        withMeanUs: mean(withCache),
        withoutP50Us: Math.round(percentile(without, 50)),
        withP50Us: Math.round(percentile(withCache, 50)),
        withoutP99Us: Math.round(percentile(without, 99)),
        withP99Us: Math.round(percentile(withCache, 99)),
      }),
    );
  } else {
    const w = generateWorkload({ extraPolicies: opts.extraPolicies, extraUsers: opts.extraUsers, questions: opts.questions ?? 2000 });
    const { policyDir, schemaDir } = writeWorkload(w, dir, join(ROOT, "schema", "mcp.cedarschema"));
    const started = performance.now();
    const ps = loadPolicySet(policyDir, schemaDir);
    const loadMs = Math.round(performance.now() - started);
    const set = opts.plain ? { ...ps, engine: new PreparedEngine(ps.schema, ps.engine.set, { actionIndex: false }) } : ps;
    const now = new Date();
    const full: number[] = [];
    const engine: number[] = [];
    const requests = [];
    for (const q of w.questions) {
      const { request } = evaluateToolCall(set, q, now);
      if (request.entities.length > 0) requests.push(engineRequest(request));
    }
    for (let pass = 0; pass < (opts.passes ?? 3); pass++) {
      for (const q of w.questions) {
        const t = process.hrtime.bigint();
        evaluateToolCall(set, q, now);
        full.push(Number(process.hrtime.bigint() - t) / 1000);
      }
      for (const r of requests) {
        const t = process.hrtime.bigint();
        set.engine.authorize(r);
        engine.push(Number(process.hrtime.bigint() - t) / 1000);
      }
    }
    full.sort((a, b) => a - b);
    engine.sort((a, b) => a - b);
    const mem = process.memoryUsage();
    console.log(
      JSON.stringify({
        policies: ps.policies.size,
        entities: ps.entities.size,
        plain: Boolean(opts.plain),
        loadMs,
        decisionP50Us: Math.round(percentile(full, 50)),
        decisionP99Us: Math.round(percentile(full, 99)),
        engineP50Us: Math.round(percentile(engine, 50)),
        engineP99Us: Math.round(percentile(engine, 99)),
        samples: full.length,
        rssMiB: Math.round(mem.rss / 2 ** 20),
        heapMiB: Math.round(mem.heapUsed / 2 ** 20),
      }),
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
