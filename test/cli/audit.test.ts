import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, ROOT } from "../helpers/app.js";
import { createPostgresDatabase, usingPostgres } from "../helpers/db.js";

const run = promisify(execFile);
const ADMIN_KEY = "test-admin-key-0123456789";
let server: RunningServer;
let dir: string;
let dbEnv: Record<string, string>;
let dropDb: (() => Promise<void>) | undefined;

/** Runs `verdict <args>`; resolves with the exit code and output whatever the code. */
async function verdict(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, "bin", "verdict.js"), ...args], {
      env: { PATH: process.env.PATH, VERDICT_API_KEY: ADMIN_KEY, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "verdict-cli-"));
  if (usingPostgres) {
    const pg = await createPostgresDatabase();
    dropDb = pg.drop;
    dbEnv = { DATABASE_URL: pg.url };
  } else {
    dbEnv = { VERDICT_DATA_DIR: join(dir, "data") };
  }
  server = await startServer(
    loadConfig({ PORT: "0", ...dbEnv, VERDICT_POLICY_DIR: EXAMPLE_POLICY_DIR, VERDICT_SCHEMA_DIR: EXAMPLE_SCHEMA_DIR, VERDICT_ADMIN_KEY: ADMIN_KEY, VERDICT_LOG_LEVEL: "silent" }),
  );
  for (const path of ["/srv/a.md", "/srv/b.md", "/etc/shadow"]) {
    const res = await fetch(`${server.url}/v1/mcp/tools/call`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path } }),
    });
    expect(res.status).toBe(200);
  }
  await server.checkpointer.checkpoint();
});
afterAll(async () => {
  await server.stop();
  await dropDb?.();
  rmSync(dir, { recursive: true, force: true });
});

describe("verdict decisions export", () => {
  it("streams the filtered record from the API to a file", async () => {
    const out = join(dir, "etc.csv");
    const r = await verdict(["decisions", "export", "--url", server.url, "--format", "csv", "--agent", "incident-bot", "--arg", "path=/etc", "-o", out]);
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(out, "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain("/etc/shadow");
  });

  it("writes JSON Lines to stdout, and reports an API error with exit code 1", async () => {
    const r = await verdict(["decisions", "export", "--url", server.url]);
    expect(r.stdout.trimEnd().split("\n").map((l) => (JSON.parse(l) as { tool: string }).tool)).toEqual(["read_file", "read_file", "read_file"]);
    const bad = await verdict(["decisions", "export", "--url", server.url, "--since", "yesterday"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("since");
  });
});

describe("verdict audit verify", () => {
  it("passes an intact record through the API, and fails naming the changed record once it is tampered with", async () => {
    const ok = await verdict(["audit", "verify", "--api", "--url", server.url]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^OK: 3 records in 1 streams/m);
    await server.database.db.execute(sql`UPDATE decisions SET arguments = '{"path": "/srv/c.md"}' WHERE seq = 3`);
    const bad = await verdict(["audit", "verify", "--api", "--url", server.url]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/altered: decision [0-9a-f-]{36} at seq 3 does not match its hash/);
  });

  it("reads the database directly when no server holds it", async () => {
    await server.stop();
    const r = await verdict(["audit", "verify", "--json"], dbEnv);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; records: number; reports: { problem: { kind: string; seq: number } | null }[] };
    expect(report).toMatchObject({ ok: false, records: 3 });
    expect(report.reports[0]!.problem).toMatchObject({ kind: "altered", seq: 3 });
  });
});
