/**
 * `npm run bench -- --rollout [--rounds 20]`: how fast an activation reaches
 * another replica, the figure `test/policy-versions/rollout.test.ts` and `test/policy-versions/store.test.ts` no longer
 * assert (a wall-clock limit in a test fails on a loaded machine; the tests check the mechanism).
 * Two `verdict serve` processes on one fresh Postgres database: each round activates a version on
 * replica A and asks replica B every 10 ms until its decision is made under that version,
 * (1) with B's listener up (LISTEN/NOTIFY) and (2) with B's listener just terminated (its 1 s
 * poll and reconnect); then (3) an in-process replica without a listener (as on PGlite: polling
 * only). The README states "within 2 s" for each: this prints p50, p95 and max, in ms.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import pino from "pino";
import { openDatabase } from "../../src/db/client.js";
import { ActivePolicySet } from "../../src/policy/active.js";
import { loadPolicySet } from "../../src/policy/build.js";
import { readSources } from "../../src/policy/sources.js";
import { PolicySetCache } from "../../src/policy-versions/store.js";
import { PolicySetSync } from "../../src/policy-versions/sync.js";
import { ToolDriftRegistry } from "../../src/catalog/drift.js";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR } from "../../test/helpers/app.js";
import { startVerdictProcess, type VerdictProcess } from "../../test/helpers/cli.js";
import { createPostgresDatabase } from "../../test/helpers/db.js";
import { load1, machine, percentile, writeResult } from "./support.js";

const READ = { agent: "report-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/q3.md" } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Milliseconds from `since` until `done()` holds, polled every 10 ms (at most 30 s). */
async function until(done: () => Promise<boolean> | boolean, since: number): Promise<number> {
  while (!(await done())) {
    if (performance.now() - since > 30_000) throw new Error("no switch within 30 s");
    await sleep(10);
  }
  return performance.now() - since;
}

/**
 * `p.request`, once more on a reused keep-alive connection the replica had already closed (this
 * process blocks its event loop while building policy sets, so its idle sockets can outlive the
 * server's 5 s keep-alive timeout unnoticed).
 */
async function request(p: VerdictProcess, path: string, init?: { method?: string; body?: unknown }): Promise<Response> {
  try {
    return await p.request(path, init);
  } catch (e) {
    if ((e as { cause?: { code?: string } }).cause?.code !== "UND_ERR_SOCKET") throw e;
    return p.request(path, init);
  }
}

const summary = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return { rounds: s.length, p50: Math.round(percentile(s, 50)), p95: Math.round(percentile(s, 95)), max: Math.round(s.at(-1) ?? NaN) };
};

/** Runs the roll-out benchmark, prints its figures and writes them to `tools/bench/results/`. */
export async function rolloutBench(opts: { databaseUrl: string; rounds: number }): Promise<void> {
  const database = await createPostgresDatabase(opts.databaseUrl);
  const work = mkdtempSync(join(tmpdir(), "verdict-bench-rollout-"));
  cpSync(EXAMPLE_POLICY_DIR, join(work, "policies"), { recursive: true });
  cpSync(EXAMPLE_SCHEMA_DIR, join(work, "schema"), { recursive: true });
  const env = { DATABASE_URL: database.url, VERDICT_POLICY_DIR: join(work, "policies"), VERDICT_SCHEMA_DIR: join(work, "schema") };
  const started: VerdictProcess[] = [];
  const admin = new pg.Client({ connectionString: database.url });
  try {
    const a = await startVerdictProcess(env);
    started.push(a);
    const b = await startVerdictProcess(env);
    started.push(b);
    await admin.connect();

    const sources = readSources(join(work, "policies"), join(work, "schema"));
    const v1 = (await (await request(a, "/v1/policy-sets", { body: { sources } })).json()).version as string;
    sources.policies["reports.cedar"] = `@id("allow-report-reads")\npermit (principal == Mcp::Agent::"report-bot", action == Mcp::Action::"filesystem/read_file", resource);\n`;
    const v2 = (await (await request(a, "/v1/policy-sets", { body: { sources } })).json()).version as string;
    const servedBy = async (p: VerdictProcess, version: string) => (await (await request(p, "/v1/mcp/tools/call", { body: READ })).json()).policySetVersion === version;
    const activate = async (version: string) => {
      const res = await request(a, `/v1/policy-sets/${version}/activate`, { method: "POST" });
      if (res.status !== 200) throw new Error(`activation of ${version}: HTTP ${res.status}`);
    };
    const listeners = async () =>
      (await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'")).rows[0].n as number;

    // A replica without a listener (what every replica is on PGlite), on the default poll
    // interval. Built before the rounds: its synchronous policy build would otherwise stall this
    // process long enough for the replicas to close its idle keep-alive connections mid-run.
    const db = await openDatabase({ url: database.url, dataDir: "unused" });
    const replica = new ActivePolicySet(loadPolicySet(join(work, "policies"), join(work, "schema")));
    const sync = new PolicySetSync({ db: db.db, policies: replica, cache: new PolicySetCache(), drift: new ToolDriftRegistry(db.db), logger: pino({ level: "silent" }) });
    await sync.start();

    const notify: number[] = [];
    const cut: number[] = [];
    const polling: number[] = [];
    for (let i = 0; i < opts.rounds; i++) {
      const version = i % 2 === 0 ? v2 : v1;
      const since = performance.now();
      await activate(version);
      notify.push(await until(() => servedBy(b, version), since));
    }
    for (let i = 0; i < opts.rounds; i++) {
      await until(async () => (await listeners()) === 2, performance.now()); // both listeners are back
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()");
      const version = i % 2 === 0 ? v2 : v1;
      const since = performance.now();
      await activate(version);
      cut.push(await until(() => servedBy(b, version), since));
    }
    try {
      for (let i = 0; i < opts.rounds; i++) {
        const version = replica.get().version === v2 ? v1 : v2;
        const since = performance.now();
        await activate(version);
        polling.push(await until(() => replica.get().version === version, since));
      }
    } finally {
      await sync.stop();
      await db.close();
    }

    const figures = { notify: summary(notify), listenerCut: summary(cut), pollingOnly: summary(polling), load1: load1() };
    console.log(`machine: ${JSON.stringify(machine())}`);
    for (const [name, f] of Object.entries(figures)) if (typeof f === "object") console.log(`  ${name.padEnd(12)} p50 ${f.p50} ms  p95 ${f.p95} ms  max ${f.max} ms  (${f.rounds} rounds; README: within 2 s)`);
    console.log(`results: ${writeResult("rollout", { mode: "rollout", machine: machine(), figures, raw: { notify, cut, polling } })}`);
  } catch (e) {
    // What the replicas logged says why a round failed (a replica that exited, a refused activation).
    for (const [i, p] of started.entries()) console.error(`replica ${"AB"[i]} (exit ${p.child.exitCode ?? "none"}):\n${p.output().slice(-2000)}`);
    throw e;
  } finally {
    await admin.end().catch(() => undefined);
    for (const p of started) await p.stop();
    await database.drop();
    rmSync(work, { recursive: true, force: true });
  }
}
