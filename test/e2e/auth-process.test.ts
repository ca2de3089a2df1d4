/**
 * Secure by default, end to end: a real Verdict process on an empty database creates an admin
 * key, prints it once on stderr, and refuses every request without a key but health; the
 * `verdict keys` CLI manages keys in the same database.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/app.js";
import { createPostgresDatabase, usingPostgres } from "../helpers/db.js";

const TSX = join(ROOT, "node_modules", ".bin", "tsx");
let env: Record<string, string>;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "verdict-auth-"));
  env = { ...(process.env as Record<string, string>), PORT: "0", VERDICT_LOG_LEVEL: "info", VERDICT_DATA_DIR: join(dir, "data") };
  delete env.VERDICT_ADMIN_KEY;
  let drop = async () => {};
  if (usingPostgres) {
    const pg = await createPostgresDatabase();
    env.DATABASE_URL = pg.url;
    drop = pg.drop;
  }
  cleanup = async () => {
    await drop();
    rmSync(dir, { recursive: true, force: true });
  };
});
afterAll(async () => {
  await cleanup();
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(TSX, args, { cwd: ROOT, env });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts Verdict; resolves with its URL and everything it wrote to stderr by then. */
function startVerdict(): Promise<{ proc: ChildProcess; url: string; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(TSX, ["src/index.ts"], { cwd: ROOT, env });
    let stderr = "";
    let stdout = "";
    proc.stderr!.on("data", (d) => (stderr += d));
    proc.stdout!.on("data", (d) => {
      stdout += d;
      const m = /"url":"(http:\/\/[^"]+)"/.exec(stdout);
      if (m) resolve({ proc, url: m[1]!, stderr: () => stderr });
    });
    proc.on("exit", (code) => reject(new Error(`verdict exited with ${code}: ${stderr}`)));
  });
}

async function stopVerdict(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGTERM");
  await exited;
}

describe("secure by default", () => {
  it("prints a bootstrap admin key once on first start, and serves nothing but health without a key", async () => {
    const first = await startVerdict();
    let key: string;
    try {
      key = /^\s+(vk_[A-Za-z0-9_-]{43})$/m.exec(first.stderr())?.[1] ?? "";
      expect(key, first.stderr()).not.toBe("");
      expect(first.stderr()).toContain("shown only this once");
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${first.url}/v1/decisions`)).status).toBe(401);
      const call = await fetch(`${first.url}/v1/mcp/tools/call`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/a" } }),
      });
      expect(call.status).toBe(401);
      const list = await fetch(`${first.url}/v1/keys`, { headers: { authorization: `Bearer ${key}` } });
      expect(list.status).toBe(200);
      expect((await list.json()).keys).toEqual([expect.objectContaining({ name: "bootstrap", role: "admin" })]);
    } finally {
      await stopVerdict(first.proc);
    }
    const second = await startVerdict();
    try {
      expect(second.stderr()).not.toContain("vk_");
      expect((await fetch(`${second.url}/v1/keys`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    } finally {
      await stopVerdict(second.proc);
    }
  }, 240_000);

  it("creates, lists and revokes keys with `verdict keys`", async () => {
    const created = await run(["src/cli/index.ts", "keys", "create", "--role", "pep", "--name", "gw1"]);
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^vk_[A-Za-z0-9_-]{43}$/);
    const id = /created pep key (key_[0-9a-f]+)/.exec(created.stderr)?.[1];
    expect(id).toMatch(/^key_[0-9a-f]{16}$/);

    const listed = await run(["src/cli/index.ts", "keys", "list", "--json"]);
    const keys = JSON.parse(listed.stdout).keys as Array<{ id: string; role: string; revokedAt: string | null }>;
    expect(keys.find((k) => k.id === id)).toMatchObject({ role: "pep", revokedAt: null });
    expect(listed.stdout).not.toContain(key);

    const bad = await run(["src/cli/index.ts", "keys", "create", "--role", "root", "--name", "x"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown role");

    expect((await run(["src/cli/index.ts", "keys", "revoke", id!])).code).toBe(0);
    const after = JSON.parse((await run(["src/cli/index.ts", "keys", "list", "--json"])).stdout).keys as Array<{ id: string; revokedAt: string | null }>;
    expect(after.find((k) => k.id === id)!.revokedAt).toEqual(expect.any(String));

    const server = await startVerdict();
    try {
      const res = await fetch(`${server.url}/v1/mcp/tools/list`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
        body: JSON.stringify({ agent: "incident-bot", server: "filesystem", tools: [] }),
      });
      expect(res.status).toBe(401);
    } finally {
      await stopVerdict(server.proc);
    }
  }, 240_000);
});
