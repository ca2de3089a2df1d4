/**
 * One case of the engine benchmark, run in its own process so that its memory is its own:
 * loads the generated workload with the given extra policies and users, then times decisions.
 * Argument: JSON `{"extraPolicies": n, "extraUsers": n, "passes": n, "plain": bool}`.
 * Prints one JSON line of figures (microseconds, MiB).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PreparedEngine } from "../../src/cedar/engine.js";
import { engineRequest, evaluateToolCall } from "../../src/pdp/tool-call.js";
import { loadPolicySet } from "../../src/policy/build.js";
import { percentile, ROOT } from "./support.js";
import { generateWorkload, writeWorkload } from "./workload.js";

const opts = JSON.parse(process.argv[2] ?? "{}") as { extraPolicies?: number; extraUsers?: number; passes?: number; plain?: boolean; questions?: number };
const dir = mkdtempSync(join(tmpdir(), "verdict-bench-engine-"));
try {
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
} finally {
  rmSync(dir, { recursive: true, force: true });
}
