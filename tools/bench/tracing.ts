/**
 * `npm run bench -- --tracing`: what tracing costs. Verdict (1 worker, Postgres, every decision
 * recorded) on the HTTP benchmark's workload, twice: tracing off (no OTLP endpoint: no provider,
 * no span) and tracing on (`OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a stand-in OTLP/HTTP
 * receiver this process runs, which counts the `verdict.decide` spans it gets). Every request
 * carries a `traceparent`, so both runs parse it and record the trace id; only "on" builds and
 * exports spans. Prints decisions/s and p99 for both, then the processor time of one span
 * measured in this process (which the machine's load hardly changes), and writes `tools/bench/results/`.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { measureVerdict, type HttpBenchOptions, type RunFigures } from "./http.js";
import { machine, ROOT, writeResult } from "./support.js";
import { generateWorkload, writeWorkload } from "./workload.js";
import { callerContext, endDecideSpan, startDecideSpan, startTracing } from "../../src/tracing/tracing.js";

/**
 * Processor time per `verdict.decide` span, in this process: start (with a parsed traceparent),
 * end, batch, serialize to OTLP JSON and send to `url`, flushed at the end. An upper bound (the
 * receiver runs in this process too), and one that hardly depends on the machine's load, unlike
 * the HTTP runs' decisions/s.
 */
async function spanCost(url: string, spans = 20_000): Promise<{ spans: number; cpuUsPerSpan: number }> {
  const tracing = startTracing({ url });
  const traceparent = `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;
  const before = process.cpuUsage();
  for (let i = 0; i < spans; i++) {
    const span = startDecideSpan(tracing.tracer, callerContext(traceparent, undefined), { kind: "tools/call", agent: "bench", server: "filesystem", tool: "read_file" }, new Date());
    endDecideSpan(span, { decision: "allow", decisionId: "01930000-0000-7000-8000-000000000001", policySetVersion: `sha256:${"b".repeat(64)}` });
    // let the exporter's timer and sockets run, as they would between requests
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  await tracing.shutdown();
  const used = process.cpuUsage(before);
  return { spans, cpuUsPerSpan: Number(((used.user + used.system) / spans).toFixed(1)) };
}

/** A stand-in OTLP/HTTP receiver: answers 200 to `POST /v1/traces` and counts the spans (by name, without parsing). */
async function startReceiver(): Promise<{ url: string; spans: () => number; requests: () => number; close: () => Promise<void> }> {
  let spans = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      requests++;
      spans += body.split('"name":"verdict.decide"').length - 1;
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans: () => spans,
    requests: () => requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Runs the tracing benchmark (off, then on) and prints both. */
export async function tracingBench(opts: HttpBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "verdict-bench-tracing-"));
  const admin = new pg.Client({ connectionString: opts.databaseUrl });
  await admin.connect();
  const receiver = await startReceiver();
  const result: Record<string, unknown> = { mode: "tracing", machine: machine(), options: opts };
  const dbNames: string[] = [];
  try {
    const w = generateWorkload({ extraPolicies: opts.extraPolicies });
    const { policyDir, schemaDir } = writeWorkload(w, dir, join(ROOT, "schema", "mcp.cedarschema"));
    const bodies = w.questions.map((q) => JSON.stringify(q));
    const sample = w.questions.slice(0, 50);
    const traceparent = `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;
    const modes = [
      // The decision cache off in both: the 2,000 bodies are sent over and over, and answers
      // from the cache would change the cost around the spans being measured.
      { name: "off", env: { VERDICT_DECISION_CACHE: "off" } as Record<string, string> },
      // A short export delay, so the receiver sees spans during the run, not only at shutdown.
      { name: "on", env: { VERDICT_DECISION_CACHE: "off", OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "500" } },
    ];
    for (const mode of modes) {
      // A fresh database per mode: the second run does not write into a larger table.
      const dbName = `verdict_bench_${randomBytes(5).toString("hex")}`;
      dbNames.push(dbName);
      await admin.query(`CREATE DATABASE ${dbName}`);
      const dbUrl = new URL(opts.databaseUrl);
      dbUrl.pathname = `/${dbName}`;
      console.log(`tracing ${mode.name}:`);
      const spansBefore = receiver.spans();
      const measured = await measureVerdict({ dir, dbUrl, policyDir, schemaDir, bodies, sample, opts, workers: 1, env: mode.env, headers: { traceparent }, label: `trace-${mode.name}` });
      const spans = receiver.spans() - spansBefore;
      if (mode.name === "off" && spans) throw new Error(`tracing off, yet the receiver got ${spans} spans`);
      console.log(`  spans received: ${spans} (for ${measured.figures.recorded as number} decisions recorded)`);
      result[mode.name] = { ...measured.figures, spansReceived: spans };
    }
    const cost = await spanCost(`${receiver.url}/v1/traces`);
    console.log(`span cost in-process: ${cost.cpuUsPerSpan} µs of processor time per span (${cost.spans} spans, export and receiver included)`);
    result.spanCost = cost;
    const top = Math.max(...opts.connections);
    const at = (mode: string) => ((result[mode] as { runs: RunFigures[] }).runs ?? []).find((r) => r.connections === top);
    const off = at("off");
    const on = at("on");
    console.log(`at ${top} connections: off ${off?.perSecond}/s p99 ${off?.p99Ms} ms; on ${on?.perSecond}/s p99 ${on?.p99Ms} ms (on/off ${off && on ? (on.perSecond / off.perSecond).toFixed(2) : "n/a"})`);
    console.log(`results: ${writeResult("tracing", result)}`);
    rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    console.error(`benchmark failed; logs of the servers are kept in ${dir}`);
    throw e;
  } finally {
    await receiver.close();
    for (const name of dbNames) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
}
