/**
 * `npm run bench`: Verdict over HTTP against its peers, on two workloads over the same generated
 * rules (`./workload.ts`), in one run:
 * - `task-shaped`: 200 tasks under way at once, each one agent acting for one user on one
 *   server, 20 calls a task (12 reads over 4 paths, so each read asked three times; 6 writes
 *   with distinct contents over 2 paths; 2 calls policies deny), interleaved;
 * - `all-distinct`: no two requests alike for the engine (agent, user, server and tool differ).
 * For each workload:
 * 1. Verdict (`src/index.ts`, `VERDICT_WORKERS` processes, the decision cache as configured by
 *    `--decision-cache`) against a fresh Postgres database, every decision recorded by the
 *    group-committed decision log before it is answered; the cache's hits and misses of each
 *    measured run are read from `/metrics`;
 * 2. Cerbos 0.55 with the same rules and its audit log on, after the same agreement check (both
 *    asked the workload's first 200 questions).
 * And once, a bare hono endpoint parsing the task-shaped bodies (the HTTP ceiling on this machine).
 * Each server is sent every body at most once, in order, across its warm-up and runs (a run that
 * needs more says so: `wrapped`), so a cache sees exactly the workload's own repeats. Each is
 * driven by autocannon (in this process: the load generator shares the machine) at each
 * connection count; the figures, their ratios and the machine's load go to
 * `tools/bench/results/` as `{"workloads": [{"name", "ratios", "verdict", "cerbos", "agreement"}, ...]}`.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import pg from "pg";
import { cerbosBinary, CERBOS_VERSION, writeCerbosConfig } from "./cerbos.js";
import { freePort, load1, machine, ROOT, startChild, stopChild, waitFor, writeResult } from "./support.js";
import { verdictProcessArgs, type ServerMode } from "./verdict-process.js";
import { cerbosRequest, generateWorkload, taskShapedQuestions, writeWorkload, type Question, type Workload } from "./workload.js";

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
  /** Verdict's decision cache settings to measure, each in turn (`VERDICT_DECISION_CACHE`; default `["on"]`). */
  decisionCache?: Array<"on" | "off">;
  /** The workloads to run (default both). */
  workloads?: WorkloadName[];
  /** How Verdict runs: compiled JavaScript as in production (default), or the sources through tsx. */
  server?: ServerMode;
  /**
   * Stub the engine in the benchmark's server (a constant allow, no Cedar call): the path
   * without Cedar. Its answers are not Verdict's, so Cerbos is not compared then.
   */
  engineStub?: boolean;
}

/** The HTTP benchmark's workloads. */
export type WorkloadName = "task-shaped" | "all-distinct";
export const WORKLOADS: readonly WorkloadName[] = ["task-shaped", "all-distinct"];

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
  /** Bodies sent in this run, and whether the run went past the last body (then bodies repeat). */
  sent: number;
  wrapped: boolean;
  /** Verdict's decision cache during the run (from `/metrics`), when measured. */
  cache?: { hits: number; misses: number; errors: number; hitRate: number | null };
}

/** Where the next body of a server's runs is taken from: each body is sent once, in order. */
export interface BodyCursor {
  next: number;
}

const ADMIN_KEY = "bench-admin-key-0123456789";

async function drive(url: string, bodies: string[], connections: number, duration: number, headers: Record<string, string>, pid: number | undefined, cursor: BodyCursor): Promise<RunFigures> {
  const first = cursor.next;
  const before = load1();
  const cpuBefore = pid ? cpuMs(pid) : 0;
  const r = await autocannon({
    url,
    connections,
    duration,
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    requests: [{ method: "POST", setupRequest: (req) => ({ ...req, body: bodies[cursor.next++ % bodies.length] }) }],
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
    sent: cursor.next - first,
    wrapped: cursor.next > bodies.length,
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

/** Counters of Verdict's decision cache, read from its `/metrics`. */
type CacheCounters = { hits: number; misses: number; errors: number };

async function runAll(
  name: string,
  url: string,
  bodies: string[],
  opts: HttpBenchOptions,
  pid: number,
  headers: Record<string, string> = {},
  cursor: BodyCursor = { next: 0 },
  probe?: () => Promise<CacheCounters | null>,
): Promise<RunFigures[]> {
  await drive(url, bodies, 10, Math.min(3, opts.duration), headers, undefined, cursor); // warm-up (JIT, pools)
  const out: RunFigures[] = [];
  for (const c of opts.connections) {
    const before = await probe?.();
    const f = await drive(url, bodies, c, opts.duration, headers, pid, cursor);
    const after = await probe?.();
    if (before && after) {
      const hits = after.hits - before.hits;
      const misses = after.misses - before.misses;
      f.cache = { hits, misses, errors: after.errors - before.errors, hitRate: hits + misses ? Number((hits / (hits + misses)).toFixed(3)) : null };
    }
    console.log(
      `  ${name.padEnd(8)} ${String(c).padStart(3)} conn: ${String(f.perSecond).padStart(6)}/s  p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms  ` +
        `server CPU ${f.cpuUsPerAnswer} µs/answer  non2xx ${f.non2xx}  errors ${f.errors}  load ${f.load1}` +
        (f.cache ? `  cache hit rate ${f.cache.hitRate}` : "") +
        (f.wrapped ? `  (went past the last body: bodies repeated)` : ""),
    );
    out.push(f);
  }
  return out;
}

/** The decision cache's counters on `/metrics` of a Verdict at `base`; null when it exports none (the cache is off). */
async function cacheCounters(base: string): Promise<CacheCounters | null> {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).text();
  const read = (name: string) => {
    const m = new RegExp(`^${name} (\\d+)`, "m").exec(text);
    return m ? Number(m[1]) : null;
  };
  const hits = read("verdict_decision_cache_hits_total");
  const misses = read("verdict_decision_cache_misses_total");
  return hits === null || misses === null ? null : { hits, misses, errors: read("verdict_decision_cache_errors_total") ?? 0 };
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

/** One workload's questions, as the HTTP benchmark sends them. */
interface BenchWorkload {
  name: WorkloadName;
  description: string;
  questions: Question[];
  /** Questions that repeat an earlier one exactly (the most an exact cache can answer). */
  repeats: number;
}

/** The questions of each workload, enough that no run sends one twice at `opts`' duration. */
function benchWorkloads(w: Workload, opts: HttpBenchOptions): BenchWorkload[] {
  // Verdict answers at most ~2,500/s here: every body once across the warm-up (3 s) and the runs.
  const calls = Math.max(20_000, Math.ceil((opts.duration * opts.connections.length + 3) * 2500) + AGREEMENT_SAMPLE);
  const out: BenchWorkload[] = [];
  for (const name of opts.workloads ?? WORKLOADS) {
    if (name === "task-shaped") {
      const t = taskShapedQuestions(w, { calls });
      out.push({ name, description: "200 tasks at a time, 20 calls each: 12 reads over 4 paths (each read three times), 6 writes with distinct contents over 2 paths, 2 denied; interleaved", questions: t.questions, repeats: t.repeats });
    } else {
      const d = generateWorkload({ extraPolicies: opts.extraPolicies, distinct: true, questions: calls });
      out.push({ name, description: "no two requests alike for the engine: agent, user (or none), server and tool all differ", questions: d.questions, repeats: 0 });
    }
  }
  return out;
}

/** How many questions of each workload both servers are asked before measuring, to compare answers. */
const AGREEMENT_SAMPLE = 200;

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
    result.rules = { policies: w.policyCount, servers: Object.keys(w.catalogs).length, tools: Object.values(w.catalogs).reduce((s, c) => s + c.tools.length, 0), entities: w.entities.length };
    console.log(`rules: ${JSON.stringify(result.rules)}`);
    console.log(`machine: ${JSON.stringify(result.machine)}`);
    let bin: string | null = null;
    result.server = { mode: opts.server ?? "compiled", engineStub: Boolean(opts.engineStub) };
    if (opts.engineStub) console.log("engine stubbed: Verdict answers a constant allow without Cedar (the path around the engine); Cerbos is not compared");
    if (opts.cerbos && !opts.engineStub) {
      try {
        bin = cerbosBinary();
      } catch (e) {
        console.log(`  cerbos not measured: ${(e as Error).message}`);
        result.cerbosError = (e as Error).message;
      }
    }

    const workloads: Array<Record<string, unknown>> = [];
    result.workloads = workloads;
    let honoBodies: string[] | null = null;
    for (const wl of benchWorkloads(w, opts)) {
      const bodies = wl.questions.map((q) => JSON.stringify(q));
      honoBodies ??= bodies;
      const sample = wl.questions.slice(0, AGREEMENT_SAMPLE);
      const entry: Record<string, unknown> = {
        name: wl.name,
        description: wl.description,
        questions: bodies.length,
        repeats: wl.repeats,
        avgBodyBytes: Math.round(bodies.reduce((s, b) => s + b.length, 0) / bodies.length),
      };
      workloads.push(entry);
      console.log(`workload ${wl.name}: ${bodies.length} questions, ${wl.repeats} exact repeats (${((100 * wl.repeats) / bodies.length).toFixed(1)}%), ${entry.avgBodyBytes} bytes a body on average`);

      // Verdict, once per worker count and cache setting
      const verdictRuns: Array<Record<string, unknown>> = [];
      let verdictDecisions: string[] = [];
      for (const cache of opts.decisionCache ?? ["on"]) {
        for (const workers of opts.workers) {
          const measured = await measureVerdict({
            dir, dbUrl, policyDir, schemaDir, bodies, sample, opts, workers,
            env: { VERDICT_DECISION_CACHE: cache },
            label: `verdict (cache ${cache})`,
            // the agreement sample is not sent again: the runs start after it
            cursor: { next: sample.length },
          });
          verdictDecisions = measured.decisions;
          verdictRuns.push({ decisionCache: cache, ...measured.figures });
        }
      }
      // The figures compared: the best with the cache as configured first (default on).
      const first = opts.decisionCache?.[0] ?? "on";
      const best = verdictRuns.filter((r) => r.decisionCache === first).reduce((a, b) => (topRate(b) > topRate(a) ? b : a));
      entry.verdict = { ...best, byRun: verdictRuns };

      if (bin) {
        const [httpPort, grpcPort] = [await freePort(), await freePort()];
        mkdirSync(join(dir, wl.name), { recursive: true });
        const config = writeCerbosConfig(join(dir, wl.name), cerbosDir, httpPort, grpcPort);
        const cerbos = startChild(bin, ["server", `--config=${config}`], { logFile: join(dir, `cerbos-${wl.name}.log`) });
        try {
          const cbase = `http://127.0.0.1:${httpPort}`;
          await waitFor(`${cbase}/_cerbos/health`, cerbos);
          const cerbosDecisions = await cerbosAnswers(`${cbase}/api/check/resources`, w, sample);
          const disagreements = sample.map((q, i) => ({ q, verdict: verdictDecisions[i], cerbos: cerbosDecisions[i] })).filter((d) => d.verdict !== d.cerbos);
          const allows = verdictDecisions.filter((d) => d === "allow").length;
          entry.agreement = { sample: sample.length, agree: sample.length - disagreements.length, verdictAllows: allows, disagreements: disagreements.slice(0, 5) };
          console.log(`  agreement on ${sample.length} questions: ${sample.length - disagreements.length} (Verdict allowed ${allows}, denied ${sample.length - allows})`);
          const cbodies = wl.questions.map((q, i) => JSON.stringify(cerbosRequest(w, q, `bench-${i}`)));
          entry.cerbos = { version: CERBOS_VERSION, auditLog: "file", runs: await runAll("cerbos", `${cbase}/api/check/resources`, cbodies, opts, cerbos.pid!, {}, { next: sample.length }) };
        } finally {
          await stopChild(cerbos);
        }
      }
      const top = Math.max(...opts.connections);
      const at = (name: string) => ((entry[name] as { runs?: RunFigures[] } | undefined)?.runs ?? []).find((r) => r.connections === top);
      entry.ratios = { connections: top, verdictOverCerbos: ratio(at("verdict")?.perSecond, at("cerbos")?.perSecond) };
      console.log(`  ${wl.name} at ${top} connections: Verdict/Cerbos ${(entry.ratios as { verdictOverCerbos: number | null }).verdictOverCerbos ?? "n/a"}`);
    }

    // bare hono, once: the HTTP ceiling of this machine
    const honoPort = await freePort();
    const hono = startChild(process.execPath, ["--import", "tsx", "tools/bench/bare-hono.ts"], { env: { PORT: String(honoPort) }, logFile: join(dir, "hono.log") });
    try {
      await waitFor(`http://127.0.0.1:${honoPort}/healthz`, hono);
      result.hono = { runs: await runAll("hono", `http://127.0.0.1:${honoPort}/v1/mcp/tools/call`, honoBodies ?? [], opts, hono.pid!) };
    } finally {
      await stopChild(hono);
    }
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
  /** Where the runs take their first body (default: the first); the agreement sample is asked apart. */
  cursor?: BodyCursor;
}

/** Starts Verdict with `workers` processes, asks the agreement sample, drives it, checks the record. */
export async function measureVerdict(s: VerdictSetup): Promise<{ decisions: string[]; figures: Record<string, unknown> }> {
  const port = await freePort();
  const process_ = verdictProcessArgs({ server: s.opts.server, engineStub: s.opts.engineStub });
  const verdict = startChild(process.execPath, process_.args, {
    env: {
      ...process_.env,
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
    // The cache's counters are one process's: read only with one worker.
    const probe = s.workers === 1 ? () => cacheCounters(base) : undefined;
    const runs = await runAll(s.label ?? "verdict", `${base}/v1/mcp/tools/call`, s.bodies, s.opts, verdict.pid!, { authorization: `Bearer ${ADMIN_KEY}`, ...s.headers }, s.cursor, probe);
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
