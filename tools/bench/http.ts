/**
 * `npm run bench`: Verdict over HTTP against its peers, on one generated workload, in one run.
 *
 * 1. Verdict (`src/index.ts`, `VERDICT_WORKERS` processes) against a fresh Postgres database,
 *    every decision recorded by the group-committed decision log before it is answered;
 * 2. a bare hono endpoint parsing the same bodies (the HTTP ceiling on this machine);
 * 3. Cerbos 0.55 with the same rules and its audit log on.
 * Each is driven by autocannon (in this process: the load generator shares the machine) at each
 * connection count; the figures, their ratios and the machine's load go to `tools/bench/results/`.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import pg from "pg";
import { cerbosBinary, CERBOS_VERSION, writeCerbosConfig } from "./cerbos.js";
import { freePort, load1, machine, ROOT, startChild, stopChild, waitFor, writeResult } from "./support.js";
import { cerbosRequest, generateWorkload, writeWorkload, type Question, type Workload } from "./workload.js";

/** Options of the HTTP benchmark. */
export interface HttpBenchOptions {
  /** Seconds per autocannon run. */
  duration: number;
  connections: number[];
  /** Verdict server processes (`VERDICT_WORKERS`); each count is measured, the best is compared. */
  workers: number[];
  /** Postgres server URL; a fresh database is created on it and dropped afterwards. */
  databaseUrl: string;
  cerbos: boolean;
  /** Extra policies on top of the workload's (e.g. 10,000 to measure memory under load). */
  extraPolicies: number;
}

/** One autocannon run. */
export interface RunFigures {
  connections: number;
  /** Answered requests per second (2xx), averaged over the run. */
  perSecond: number;
  /**
   * Processor time the server used per answer (µs, all its processes): unlike requests per
   * second, this hardly depends on what else the machine is running.
   */
  cpuUsPerAnswer: number | null;
  p50Ms: number;
  p99Ms: number;
  ok: number;
  non2xx: number;
  errors: number;
  load1: number;
}

const ADMIN_KEY = "bench-admin-key-0123456789";

async function drive(url: string, bodies: string[], connections: number, duration: number, headers: Record<string, string> = {}, pid?: number): Promise<RunFigures> {
  let i = 0;
  const before = load1();
  const cpuBefore = pid ? cpuMs(pid) : 0;
  const r = await autocannon({
    url,
    connections,
    duration,
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    requests: [{ method: "POST", setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] }) }],
  });
  const ok = r["2xx"];
  return {
    connections,
    perSecond: Math.round(ok / duration),
    cpuUsPerAnswer: pid && ok ? Math.round(((cpuMs(pid) - cpuBefore) * 1000) / ok) : null,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    ok,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    load1: Math.max(before, load1()),
  };
}

/** Processor time (ms, user + system) used so far by a process and its descendants. */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[11], fields[12]: utime, stime in clock ticks (100 a second on Linux)
    const own = ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    return own + kids.reduce((sum, k) => sum + cpuMs(k), 0);
  } catch {
    return 0;
  }
}

/** Samples the resident memory (MiB) of a process and its children, every 500 ms, keeping the peak. */
function rssSampler(pid: number): { stop(): number } {
  const rssOf = (p: number): number => {
    try {
      const status = readFileSync(`/proc/${p}/status`, "utf8");
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const kids = readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
      return kb + kids.reduce((s, k) => s + rssOf(k) * 1024, 0) / 1024;
    } catch {
      return 0;
    }
  };
  let peak = rssOf(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 500);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.round(peak / 1024);
    },
  };
}

async function runAll(name: string, url: string, bodies: string[], opts: HttpBenchOptions, pid: number, headers?: Record<string, string>): Promise<RunFigures[]> {
  await drive(url, bodies, 10, Math.min(3, opts.duration), headers); // warm-up (JIT, pools)
  const out: RunFigures[] = [];
  for (const c of opts.connections) {
    const f = await drive(url, bodies, c, opts.duration, headers, pid);
    console.log(
      `  ${name.padEnd(8)} ${String(c).padStart(3)} conn: ${String(f.perSecond).padStart(6)}/s  p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms  ` +
        `server CPU ${f.cpuUsPerAnswer} µs/answer  non2xx ${f.non2xx}  errors ${f.errors}  load ${f.load1}`,
    );
    out.push(f);
  }
  return out;
}

async function verdictAnswers(url: string, questions: Question[]): Promise<string[]> {
  const out: string[] = [];
  for (const q of questions) {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` }, body: JSON.stringify(q) });
    out.push(((await res.json()) as { decision?: string }).decision ?? `http ${res.status}`);
  }
  return out;
}

async function cerbosAnswers(url: string, w: Workload, questions: Question[]): Promise<string[]> {
  const out: string[] = [];
  for (const [i, q] of questions.entries()) {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(cerbosRequest(w, q, `agree-${i}`)) });
    const body = (await res.json()) as { results?: Array<{ actions: Record<string, string> }> };
    const effect = body.results?.[0]?.actions[q.tool];
    out.push(effect === "EFFECT_ALLOW" ? "allow" : effect === "EFFECT_DENY" ? "deny" : `http ${res.status}`);
  }
  return out;
}

/** Runs the HTTP benchmark, prints its figures and writes them to `tools/bench/results/`. */
export async function httpBench(opts: HttpBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "verdict-bench-"));
  const dbName = `verdict_bench_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: opts.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(opts.databaseUrl);
  dbUrl.pathname = `/${dbName}`;
  const result: Record<string, unknown> = { mode: "http", machine: machine(), options: opts };
  try {
    const w = generateWorkload({ extraPolicies: opts.extraPolicies });
    const { policyDir, schemaDir, cerbosDir } = writeWorkload(w, dir, join(ROOT, "schema", "mcp.cedarschema"));
    const bodies = w.questions.map((q) => JSON.stringify(q));
    const avgBytes = Math.round(w.questions.reduce((s, q) => s + JSON.stringify(q.arguments).length, 0) / w.questions.length);
    result.workload = { policies: w.policyCount, servers: Object.keys(w.catalogs).length, tools: Object.values(w.catalogs).reduce((s, c) => s + c.tools.length, 0), entities: w.entities.length, questions: bodies.length, avgArgumentBytes: avgBytes, avgBodyBytes: Math.round(bodies.reduce((s, b) => s + b.length, 0) / bodies.length) };
    console.log(`workload: ${JSON.stringify(result.workload)}`);
    console.log(`machine: ${JSON.stringify(result.machine)}`);
    const sample = w.questions.slice(0, 200);

    // Verdict, once per worker count
    const verdictRuns: Array<Record<string, unknown>> = [];
    let verdictDecisions: string[] = [];
    for (const workers of opts.workers) {
      const measured = await measureVerdict({ dir, dbUrl, policyDir, schemaDir, bodies, sample, opts, workers });
      verdictDecisions = measured.decisions;
      verdictRuns.push(measured.figures);
    }
    const best = verdictRuns.reduce((a, b) => (topRate(b) > topRate(a) ? b : a));
    result.verdict = { ...best, byWorkers: verdictRuns };

    // bare hono
    const honoPort = await freePort();
    const hono = startChild(process.execPath, ["--import", "tsx", "tools/bench/bare-hono.ts"], { env: { PORT: String(honoPort) }, logFile: join(dir, "hono.log") });
    try {
      await waitFor(`http://127.0.0.1:${honoPort}/healthz`, hono);
      result.hono = { runs: await runAll("hono", `http://127.0.0.1:${honoPort}/v1/mcp/tools/call`, bodies, opts, hono.pid!) };
    } finally {
      await stopChild(hono);
    }

    // Cerbos
    if (opts.cerbos) {
      let bin: string | null = null;
      try {
        bin = cerbosBinary();
      } catch (e) {
        result.cerbos = { error: (e as Error).message };
        console.log(`  cerbos not measured: ${(e as Error).message}`);
      }
      if (bin) {
        const [httpPort, grpcPort] = [await freePort(), await freePort()];
        const config = writeCerbosConfig(dir, cerbosDir, httpPort, grpcPort);
        const cerbos = startChild(bin, ["server", `--config=${config}`], { logFile: join(dir, "cerbos.log") });
        try {
          const cbase = `http://127.0.0.1:${httpPort}`;
          await waitFor(`${cbase}/_cerbos/health`, cerbos);
          const cerbosDecisions = await cerbosAnswers(`${cbase}/api/check/resources`, w, sample);
          const disagreements = sample.map((q, i) => ({ q, verdict: verdictDecisions[i], cerbos: cerbosDecisions[i] })).filter((d) => d.verdict !== d.cerbos);
          const allows = verdictDecisions.filter((d) => d === "allow").length;
          result.agreement = { sample: sample.length, agree: sample.length - disagreements.length, verdictAllows: allows, disagreements: disagreements.slice(0, 5) };
          console.log(`  agreement on ${sample.length} questions: ${sample.length - disagreements.length} (Verdict allowed ${allows}, denied ${sample.length - allows})`);
          const cbodies = w.questions.map((q, i) => JSON.stringify(cerbosRequest(w, q, `bench-${i}`)));
          result.cerbos = { version: CERBOS_VERSION, auditLog: "file", runs: await runAll("cerbos", `${cbase}/api/check/resources`, cbodies, opts, cerbos.pid!) };
        } finally {
          await stopChild(cerbos);
        }
      }
    }

    const at = (name: string, c: number) => ((result[name] as { runs?: RunFigures[] } | undefined)?.runs ?? []).find((r) => r.connections === c);
    const top = Math.max(...opts.connections);
    const ratios = {
      verdictOverCerbos: ratio(at("verdict", top)?.perSecond, at("cerbos", top)?.perSecond),
      verdictOverHono: ratio(at("verdict", top)?.perSecond, at("hono", top)?.perSecond),
    };
    result.ratios = { connections: top, ...ratios };
    console.log(`ratios at ${top} connections: Verdict/Cerbos ${ratios.verdictOverCerbos ?? "n/a"}, Verdict/bare hono ${ratios.verdictOverHono ?? "n/a"}`);
    console.log(`results: ${writeResult("http", result)}`);
    rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    console.error(`benchmark failed; logs of the servers are kept in ${dir}`);
    throw e;
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
}

/** Answers per second of a set of runs at its highest connection count. */
function topRate(figures: Record<string, unknown>): number {
  const runs = figures.runs as RunFigures[];
  return runs.reduce((a, b) => (b.connections > a.connections ? b : a)).perSecond;
}

export interface VerdictSetup {
  dir: string;
  dbUrl: URL;
  policyDir: string;
  schemaDir: string;
  bodies: string[];
  sample: Question[];
  opts: HttpBenchOptions;
  workers: number;
  /** More environment for Verdict (the tracing benchmark's `OTEL_EXPORTER_OTLP_ENDPOINT`). */
  env?: Record<string, string>;
  /** More request headers (the tracing benchmark's `traceparent`). */
  headers?: Record<string, string>;
  /** The name printed before each run's figures (default `verdict`). */
  label?: string;
}

/** Starts Verdict with `workers` processes, asks the agreement sample, drives it, checks the record. */
export async function measureVerdict(s: VerdictSetup): Promise<{ decisions: string[]; figures: Record<string, unknown> }> {
  const port = await freePort();
  const verdict = startChild(process.execPath, ["--import", "tsx", "src/index.ts"], {
    env: {
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: s.dbUrl.toString(),
      VERDICT_POLICY_DIR: s.policyDir,
      VERDICT_SCHEMA_DIR: s.schemaDir,
      VERDICT_ADMIN_KEY: ADMIN_KEY,
      VERDICT_WORKERS: String(s.workers),
      VERDICT_LOG_LEVEL: "warn",
      ...s.env,
    },
    logFile: join(s.dir, `verdict-${s.workers}.log`),
  });
  const base = `http://127.0.0.1:${port}`;
  const db = new pg.Client({ connectionString: s.dbUrl.toString() });
  try {
    await waitFor(`${base}/healthz`, verdict, 300_000);
    // the cluster answers as soon as one worker listens: give the others time to load too
    if (s.workers > 1) await new Promise((r) => setTimeout(r, 5_000 + 2_000 * s.workers));
    await db.connect();
    const count = async () => Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM decisions")).rows[0]!.n);
    const before = await count();
    const decisions = await verdictAnswers(`${base}/v1/mcp/tools/call`, s.sample);
    const rss = rssSampler(verdict.pid!);
    console.log(`  verdict with ${s.workers} worker(s):`);
    const runs = await runAll(s.label ?? "verdict", `${base}/v1/mcp/tools/call`, s.bodies, s.opts, verdict.pid!, { authorization: `Bearer ${ADMIN_KEY}`, ...s.headers });
    const peakRssMiB = rss.stop();
    const failed = runs.filter((r) => r.errors > 0 || r.non2xx > 0);
    if (failed.length || verdict.exitCode !== null) {
      throw new Error(`Verdict (${s.workers} worker(s)) failed requests or exited (code ${verdict.exitCode}); see ${join(s.dir, `verdict-${s.workers}.log`)}`);
    }
    await stopChild(verdict);
    const answered = runs.reduce((sum, r) => sum + r.ok, 0);
    const recorded = (await count()) - before;
    console.log(`  verdict peak RSS (all processes): ${peakRssMiB} MiB; recorded ${recorded} decisions (${answered} answered in the measured runs, plus agreement and warm-up)`);
    if (recorded < answered) throw new Error(`only ${recorded} decisions recorded for ${answered} answers`);
    return { decisions, figures: { workers: s.workers, runs, peakRssMiB, recorded, answeredInMeasuredRuns: answered } };
  } finally {
    await db.end().catch(() => undefined);
    await stopChild(verdict);
  }
}

const ratio = (a?: number, b?: number): number | null => (a && b ? Number((a / b).toFixed(2)) : null);
