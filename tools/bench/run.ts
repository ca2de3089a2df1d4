/**
 * The benchmark's entry point.
 *
 *   npm run bench                      HTTP, two workloads (task-shaped, all-distinct): Verdict (Postgres,
 *                                      every decision recorded) vs Cerbos, and bare hono once
 *   npm run bench -- --engine          in-process decision cost, its growth with policies and entities, memory
 *   npm run bench:engine               the same
 *   npm run bench -- --rollout         how fast an activation reaches another replica (Postgres)
 *   npm run bench -- --tracing         Verdict with tracing off and on (OTLP to a local receiver): decisions/s, p99
 *   npm run bench -- --history         Verdict without and with a policy on every tool that reads
 *                                      context.session.history: decisions/s, p99, added processor time per decision
 *
 * Options: --duration <s> (per autocannon run, default 10), --connections 1,50,
 * --workers 1,auto (Verdict process counts to measure, each in turn; the best is compared), --no-cerbos, --policies <n> (extra
 * policies for the HTTP run), --database <postgres URL> (default postgres://postgres@127.0.0.1:5432/postgres),
 * --decision-cache on,off (Verdict's VERDICT_DECISION_CACHE settings to measure in turn; default on),
 * --workload task-shaped,all-distinct (default both), --server compiled|tsx (how Verdict runs:
 * compiled JavaScript as in production, the default, built with `npm run build` first; or the
 * sources through tsx), --engine-stub (the engine answers a constant allow without Cedar, in the
 * benchmark's server only: the path around the engine; Cerbos is not compared).
 */
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { engineBench } from "./engine.js";
import { historyBench } from "./history.js";
import { httpBench, WORKLOADS, type WorkloadName } from "./http.js";
import { rolloutBench } from "./rollout.js";
import { tracingBench } from "./tracing.js";
import { stopAllChildren } from "./support.js";

const { values } = parseArgs({
  options: {
    engine: { type: "boolean", default: false },
    rollout: { type: "boolean", default: false },
    tracing: { type: "boolean", default: false },
    history: { type: "boolean", default: false },
    rounds: { type: "string", default: "20" },
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "1,50" },
    workers: { type: "string", default: "1,auto" },
    "no-cerbos": { type: "boolean", default: false },
    policies: { type: "string", default: "0" },
    "decision-cache": { type: "string", default: "on" },
    workload: { type: "string", default: WORKLOADS.join(",") },
    server: { type: "string", default: "compiled" },
    "engine-stub": { type: "boolean", default: false },
    database: { type: "string", default: process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres" },
  },
});

const interrupted = () => void stopAllChildren().then(() => process.exit(130));
process.once("SIGINT", interrupted);
process.once("SIGTERM", interrupted);

try {
  if (values.engine) await engineBench();
  else if (values.rollout) await rolloutBench({ databaseUrl: values.database, rounds: Number(values.rounds) });
  else {
    const options = {
      duration: Number(values.duration),
      connections: values.connections.split(",").map(Number),
      workers: values.workers.split(",").map((w) => (w === "auto" ? availableParallelism() : Number(w))),
      databaseUrl: values.database,
      cerbos: !values["no-cerbos"],
      extraPolicies: Number(values.policies),
      decisionCache: values["decision-cache"].split(",").map((v) => {
        if (v !== "on" && v !== "off") throw new Error(`--decision-cache: expected on and/or off, got ${v}`);
        return v;
      }),
      server: ((v): "compiled" | "tsx" => {
        if (v !== "compiled" && v !== "tsx") throw new Error(`--server: expected compiled or tsx, got ${v}`);
        return v;
      })(values.server),
      engineStub: values["engine-stub"],
      workloads: values.workload.split(",").map((v) => {
        if (!WORKLOADS.includes(v as WorkloadName)) throw new Error(`--workload: expected ${WORKLOADS.join(" and/or ")}, got ${v}`);
        return v as WorkloadName;
      }),
    };
    await (values.tracing ? tracingBench(options) : values.history ? historyBench(options) : httpBench(options));
  }
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await stopAllChildren();
}
