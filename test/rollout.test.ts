import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSources } from "../src/policy-set/load.js";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR } from "./helpers/app.js";
import { startVerdictProcess, type VerdictProcess } from "./helpers/cli.js";
import { createPostgresDatabase, LOCAL_POSTGRES } from "./helpers/db.js";

// Two replicas need one database both can reach, so this test always uses Postgres (the
// DATABASE_URL server, else the machine's shared one), whatever driver the rest of the suite uses.
let database: { url: string; drop(): Promise<void> };
let work: string;
let a: VerdictProcess;
let b: VerdictProcess;

beforeAll(async () => {
  database = await createPostgresDatabase(process.env.DATABASE_URL ?? LOCAL_POSTGRES);
  work = mkdtempSync(join(tmpdir(), "verdict-rollout-"));
  cpSync(EXAMPLE_POLICY_DIR, join(work, "policies"), { recursive: true });
  cpSync(EXAMPLE_SCHEMA_DIR, join(work, "schema"), { recursive: true });
  const env = { DATABASE_URL: database.url, VERDICT_POLICY_DIR: join(work, "policies"), VERDICT_SCHEMA_DIR: join(work, "schema") };
  a = await startVerdictProcess(env);
  b = await startVerdictProcess(env);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await database?.drop();
  rmSync(work, { recursive: true, force: true });
});

const reportBotRead = { agent: "report-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/q3.md" } };
const decide = async (p: VerdictProcess) => (await p.request("/v1/mcp/tools/call", { body: reportBotRead })).json();

/** Asks `p` every 25 ms until its decision is `decision` under `version`; returns how long that took, in ms. */
async function timeUntil(p: VerdictProcess, decision: string, version: string, since: number): Promise<number> {
  for (;;) {
    const d = await decide(p);
    if (d.decision === decision && d.policySetVersion === version) return performance.now() - since;
    if (performance.now() - since > 10_000) throw new Error(`still ${d.decision} under ${d.policySetVersion} after 10 s`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("roll-out across two Verdict processes on one Postgres", () => {
  let v1: string;
  let v2: string;

  it("both serve the files at start", async () => {
    const [ra, rb] = await Promise.all([a.request("/readyz"), b.request("/readyz")]);
    v1 = (await ra.json()).policySetVersion;
    expect((await rb.json()).policySetVersion).toBe(v1);
    expect(await decide(b)).toMatchObject({ decision: "deny", policySetVersion: v1 });
  });

  it("activating a version on one changes the other's decisions within 2 s (LISTEN/NOTIFY)", async () => {
    const sources = readSources(join(work, "policies"), join(work, "schema"));
    await a.request("/v1/policy-sets", { body: { sources } });
    sources.policies["reports.cedar"] = `@id("allow-report-reads")\npermit (principal == Mcp::Agent::"report-bot", action == Mcp::Action::"filesystem/read_file", resource);\n`;
    v2 = (await (await a.request("/v1/policy-sets", { body: { sources } })).json()).version;
    expect(await decide(b)).toMatchObject({ decision: "deny", policySetVersion: v1 });

    const start = performance.now();
    expect((await a.request(`/v1/policy-sets/${v2}/activate`, { method: "POST" })).status).toBe(200);
    const ms = await timeUntil(b, "allow", v2, start);
    console.log(`replica B switched to the activated version ${ms.toFixed(0)} ms after the activation request`);
    expect(ms).toBeLessThan(2_000);

    const d = await decide(b);
    expect(d).toMatchObject({ decision: "allow", reasons: ["allow-report-reads"], policySetVersion: v2 });
    const record = await (await b.request(`/v1/decisions/${d.decisionId}`)).json();
    expect(record.policySetVersion).toBe(v2);
    expect((await (await b.request("/readyz")).json()).policySetVersion).toBe(v2);
  });

  it("with its listener cut, the other replica still switches within 2 s (polling, then the reconnected listener)", async () => {
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const killed = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
      );
      expect(killed.rowCount).toBe(2);
      const start = performance.now();
      // v1 was served from files, never activated, so it is activated by name (rollback has nothing to go back to).
      const back = await (await a.request(`/v1/policy-sets/${v1}/activate`, { method: "POST" })).json();
      expect(back.version).toBe(v1);
      const ms = await timeUntil(b, "deny", v1, start);
      console.log(`replica B (listener down) switched ${ms.toFixed(0)} ms after the activation`);
      expect(ms).toBeLessThan(2_000);

      // The listeners come back (backoff starts at 250 ms).
      const deadline = performance.now() + 10_000;
      let listening = 0;
      while (performance.now() < deadline) {
        listening = (await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'")).rows[0].n;
        if (listening === 2) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(listening).toBe(2);
    } finally {
      await admin.end();
    }
  });

  it("a restarted replica serves the active version from the database, not its files", async () => {
    writeFileSync(join(work, "policies", "extra.cedar"), `@id("extra")\nforbid (principal, action, resource);\n`);
    await b.stop();
    b = await startVerdictProcess({ DATABASE_URL: database.url, VERDICT_POLICY_DIR: join(work, "policies"), VERDICT_SCHEMA_DIR: join(work, "schema") });
    expect((await (await b.request("/readyz")).json()).policySetVersion).toBe(v1);
  });
});
