/**
 * `npm run bench:engine`: the in-process cost of a realistic decision (`evaluateToolCall`:
 * Verdict's checks, argument conversion, entity slice and Cedar) and of the engine call alone,
 * how it grows with the number of policies (the workload's, 1,000, 10,000) and with the size of
 * the entity store (400, 100,000), the plain path (whole set and schema) beside the fast path,
 * and resident memory with 10,000 policies; and the decision cache on the HTTP benchmark's two
 * workloads (each stream decided in order without and with a cache). Each case runs in its own
 * process.
 */
import { execFileSync } from "node:child_process";
import { load1, machine, ROOT, writeResult } from "./support.js";
import { generateWorkload } from "./workload.js";

interface CaseFigures {
  policies: number;
  entities: number;
  plain: boolean;
  loadMs: number;
  decisionP50Us: number;
  decisionP99Us: number;
  engineP50Us: number;
  engineP99Us: number;
  rssMiB: number;
  load1?: number;
}

function runCase(opts: Record<string, unknown>): CaseFigures {
  const out = execFileSync(process.execPath, ["--import", "tsx", "tools/bench/engine-case.ts", JSON.stringify(opts)], { cwd: ROOT, encoding: "utf8", maxBuffer: 1 << 20 });
  const figures = JSON.parse(out.trim().split("\n").pop()!) as CaseFigures;
  figures.load1 = load1();
  const label = `${figures.plain ? "plain" : "fast "} policies ${String(figures.policies).padStart(6)}  entities ${String(figures.entities).padStart(6)}`;
  console.log(`  ${label}: decision p50 ${figures.decisionP50Us} µs p99 ${figures.decisionP99Us} µs | engine p50 ${figures.engineP50Us} µs p99 ${figures.engineP99Us} µs | load ${figures.loadMs} ms | RSS ${figures.rssMiB} MiB | loadavg ${figures.load1}`);
  return figures;
}

/** Runs the engine benchmark, prints its figures and writes them to `tools/bench/results/`. */
export async function engineBench(): Promise<void> {
  const base = generateWorkload({ questions: 1 });
  const baseEntities = base.entities.length;
  console.log(`machine: ${JSON.stringify(machine())}`);
  const policies = [
    runCase({ passes: 3 }),
    runCase({ extraPolicies: 1000 - base.policyCount, passes: 2 }),
    runCase({ extraPolicies: 10_000 - base.policyCount, passes: 2 }),
  ];
  const plain = [runCase({ plain: true, passes: 2 }), runCase({ plain: true, extraPolicies: 1000 - base.policyCount, passes: 1, questions: 400 })];
  const entities = [runCase({ extraUsers: 400 - baseEntities, passes: 3 }), runCase({ extraUsers: 100_000 - baseEntities, passes: 3 })];
  const cache = (["task-shaped", "all-distinct"] as const).map((workload) => {
    const out = execFileSync(process.execPath, ["--import", "tsx", "tools/bench/engine-case.ts", JSON.stringify({ cache: workload })], { cwd: ROOT, encoding: "utf8", maxBuffer: 1 << 20 });
    const f = JSON.parse(out.trim().split("\n").pop()!) as Record<string, number | string>;
    console.log(`  decision cache, ${workload}: hit rate ${f.hitRate}; decision mean ${f.withoutMeanUs} µs without, ${f.withMeanUs} µs with (p50 ${f.withoutP50Us} / ${f.withP50Us}, p99 ${f.withoutP99Us} / ${f.withP99Us}) | loadavg ${load1()}`);
    return f;
  });
  const [p0, , p2] = policies as [CaseFigures, CaseFigures, CaseFigures];
  const [e0, e1] = entities as [CaseFigures, CaseFigures];
  const summary = {
    decisionP50Us: p0.decisionP50Us,
    policyGrowth10k: Number((p2.decisionP50Us / p0.decisionP50Us).toFixed(2)),
    entityGrowth100k: Number((e1.decisionP50Us / e0.decisionP50Us).toFixed(2)),
    rssMiB10k: p2.rssMiB,
    fastOverPlain: Number((plain[0]!.decisionP50Us / p0.decisionP50Us).toFixed(2)),
  };
  console.log(
    `in-process decision p50 ${summary.decisionP50Us} µs (target ≤ 400); 10,000 policies ${summary.policyGrowth10k}× the workload's (target ≤ 3); ` +
      `100,000 entities ${summary.entityGrowth100k}× 400 (target ≤ 1.10); RSS with 10,000 policies ${summary.rssMiB10k} MiB (target ≤ 300); fast path ${summary.fastOverPlain}× faster than plain`,
  );
  console.log(`results: ${writeResult("engine", { mode: "engine", machine: machine(), policies, plain, entities, cache, summary })}`);
}
