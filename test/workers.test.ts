/**
 * `VERDICT_WORKERS`: a process per core sharing the port (Node cluster), each with its own
 * decision-log stream. Workers need a shared Postgres: with the embedded PGlite database
 * Verdict refuses to start them.
 */
import { spawn } from "node:child_process";
import { request } from "node:http";
import { createServer } from "node:net";
import { availableParallelism } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";
import { ROOT } from "./helpers/app.js";
import { createPostgresDatabase, usingPostgres } from "./helpers/db.js";

const ADMIN_KEY = "test-admin-key-0123456789";
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe("VERDICT_WORKERS configuration", () => {
  it("defaults to one worker, takes a number or auto", () => {
    expect(loadConfig({}).workers).toBe(1);
    expect(loadConfig({ VERDICT_WORKERS: "3", DATABASE_URL: "postgres://h/db" }).workers).toBe(3);
    expect(loadConfig({ VERDICT_WORKERS: "auto", DATABASE_URL: "postgres://h/db" }).workers).toBe(availableParallelism());
  });

  it("refuses several workers without a shared Postgres, and nonsense", () => {
    expect(() => loadConfig({ VERDICT_WORKERS: "2" })).toThrow(/VERDICT_WORKERS.*DATABASE_URL/);
    expect(() => loadConfig({ VERDICT_WORKERS: "0", DATABASE_URL: "postgres://h/db" })).toThrow(ConfigError);
    expect(() => loadConfig({ VERDICT_WORKERS: "many", DATABASE_URL: "postgres://h/db" })).toThrow(/VERDICT_WORKERS/);
  });
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** One request on its own connection, so the cluster can hand it to any worker. */
function post(port: number, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = request(
      { host: "127.0.0.1", port, path, method: "POST", agent: false, headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString()) }));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

describe("a cluster of workers", () => {
  it(usingPostgres ? "answers from two workers, each recording its own stream" : "is refused with the embedded database", async () => {
    const port = await freePort();
    const env: Record<string, string> = { ...process.env, PORT: String(port), VERDICT_WORKERS: "2", VERDICT_ADMIN_KEY: ADMIN_KEY, VERDICT_LOG_LEVEL: "info" } as Record<string, string>;
    delete env.DATABASE_URL;
    if (usingPostgres) {
      const db = await createPostgresDatabase();
      cleanups.push(db.drop);
      env.DATABASE_URL = db.url;
    }
    const child = spawn(process.execPath, ["--import", "tsx", "src/index.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });

    if (!usingPostgres) {
      expect(await exited).toBe(2);
      expect(output).toMatch(/VERDICT_WORKERS.*DATABASE_URL/);
      return;
    }

    const deadline = Date.now() + 120_000;
    while ((output.match(/verdict listening/g) ?? []).length < 2) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`workers did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await post(port, "/v1/mcp/tools/call", { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" } });
      expect(res.status).toBe(200);
      expect(res.json.decision).toBe("allow");
      ids.push(res.json.decisionId as string);
    }
    const streams = new Set<string>();
    for (const id of ids) {
      const res = await new Promise<Record<string, unknown>>((resolve, reject) =>
        request({ host: "127.0.0.1", port, path: `/v1/decisions/${id}`, agent: false, headers: { authorization: `Bearer ${ADMIN_KEY}` } }, (r) => {
          const chunks: Buffer[] = [];
          r.on("data", (c: Buffer) => chunks.push(c));
          r.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
        })
          .on("error", reject)
          .end(),
      );
      streams.add(res.stream as string);
    }
    expect(streams.size).toBe(2);

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
