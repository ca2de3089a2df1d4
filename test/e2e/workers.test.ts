/**
 * `VERDICT_WORKERS`: a process per core sharing the port (Node cluster), each with its own
 * decision-log stream. Workers need a shared Postgres: with the embedded PGlite database
 * Verdict refuses to start them.
 */
import { spawn } from "node:child_process";
import { request } from "node:http";
import { availableParallelism } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { ROOT } from "../helpers/app.js";
import { createPostgresDatabase, usingPostgres } from "../helpers/db.js";

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
    // PORT=0: the cluster binds a port of its own choosing (both workers share the primary's
    // handle) and each worker logs it; no port is probed and released.
    const env: Record<string, string> = { ...process.env, PORT: "0", VERDICT_WORKERS: "2", VERDICT_ADMIN_KEY: ADMIN_KEY, VERDICT_LOG_LEVEL: "info" } as Record<string, string>;
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

    const listening = () => [...output.matchAll(/"url":"(http:\/\/[^"]+)"[^\n]*verdict listening/g)].map((m) => m[1]!);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`workers did not start:\n${output}`)), 120_000);
      const check = () => {
        if (listening().length < 2) return;
        clearTimeout(timer);
        resolve();
      };
      child.stdout.on("data", check);
      child.stderr.on("data", check);
      child.once("exit", () => {
        clearTimeout(timer);
        reject(new Error(`workers did not start:\n${output}`));
      });
      check();
    });
    const urls = listening();
    expect(urls[1], "both workers listen on one port").toBe(urls[0]);
    const port = Number(new URL(urls[0]!).port);
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
  }, 180_000);
});
