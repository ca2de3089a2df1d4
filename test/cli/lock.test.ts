/**
 * Defect 7 (issue 11): two processes must never open one embedded (PGlite) database directory.
 * A real `verdict serve` on PGlite in a temp data directory, and the `verdict` CLI pointed at the
 * same directory, as an operator would run them. The test runs on PGlite whatever the driver of
 * the suite: the defect is PGlite's (a Postgres server arbitrates its own clients).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/app.js";
import { runCli, startVerdictProcess, type VerdictProcess } from "../helpers/cli.js";

let work: string;
const running = new Set<VerdictProcess>();

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "verdict-lock-"));
});
afterAll(async () => {
  for (const p of running) await p.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A server on PGlite in `dataDir` (never the suite's Postgres). */
async function serve(dataDir: string): Promise<VerdictProcess> {
  const p = await startVerdictProcess({ DATABASE_URL: "", VERDICT_DATA_DIR: dataDir });
  running.add(p);
  return p;
}

async function stop(p: VerdictProcess): Promise<void> {
  await p.stop();
  running.delete(p);
}

/** `verdict <args>` with the embedded database in `dataDir`, as a shell with no DATABASE_URL would run it. */
const cli = (dataDir: string, args: string[], env: Record<string, string> = {}) => runCli(args, { env: { DATABASE_URL: "", VERDICT_URL: "", VERDICT_DATA_DIR: dataDir, ...env } });

/** The status a pep key gets from the server: 200 when the server knows it, 401 when not. */
async function pepStatus(server: VerdictProcess, key: string): Promise<number> {
  const res = await fetch(`${server.url}/v1/mcp/tools/list`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ agent: "incident-bot", server: "filesystem", tools: [] }),
  });
  await res.body?.cancel();
  return res.status;
}

const KEY = /vk_[A-Za-z0-9_-]{43}/;

describe("defect 7: a CLI write to the embedded database of a running server is lost", () => {
  it("refuses every database command while a server holds the directory, prints no key, and says what to do", async () => {
    const dataDir = join(work, "refuse");
    const server = await serve(dataDir);
    try {
      const pid = server.child.pid!;
      for (const args of [
        ["keys", "create", "--role", "pep", "--name", "gw-lost"],
        ["keys", "list"],
        ["keys", "revoke", "key_0000"],
        ["keys", "rotate-signing"],
        ["audit", "verify"],
      ]) {
        const r = await cli(dataDir, args);
        expect(r.code, `${args.join(" ")}: ${r.stderr}`).not.toBe(0);
        expect(r.stdout, args.join(" ")).not.toMatch(KEY);
        expect(r.stderr, args.join(" ")).toContain(`a Verdict process (pid ${pid}`);
        expect(r.stderr, args.join(" ")).toContain(`holds the embedded database in ${dataDir}`);
        expect(r.stderr, args.join(" ")).toMatch(/--url/);
      }
      // The server never saw a second opener: it still answers, and its key list has only the bootstrap admin.
      const keys = (await (await server.request("/v1/keys")).json()) as { keys: Array<{ name: string }> };
      expect(keys.keys.map((k) => k.name)).not.toContain("gw-lost");
    } finally {
      await stop(server);
    }
  }, 240_000);

  it("with --url, keys create goes through the server's API: the key works at once and survives a restart", async () => {
    const dataDir = join(work, "api");
    let server = await serve(dataDir);
    let key: string;
    try {
      const r = await cli(dataDir, ["keys", "create", "--role", "pep", "--name", "gw-api", "--url", server.url]);
      expect(r.code, r.stderr).toBe(0);
      key = r.stdout.trim();
      expect(key).toMatch(new RegExp(`^${KEY.source}$`));
      expect(r.stderr).toMatch(/created pep key key_[0-9a-f]+ \(gw-api\)/);
      expect(await pepStatus(server, key)).toBe(200);
      const listed = await cli(dataDir, ["keys", "list", "--json", "--url", server.url]);
      expect(listed.code, listed.stderr).toBe(0);
      expect((JSON.parse(listed.stdout) as { keys: Array<{ name: string }> }).keys.map((k) => k.name)).toContain("gw-api");
    } finally {
      await stop(server);
    }
    server = await serve(dataDir);
    try {
      expect(await pepStatus(server, key)).toBe(200);
    } finally {
      await stop(server);
    }
    // With the server stopped, the CLI opens the directory itself, and sees the same key.
    const offline = await cli(dataDir, ["keys", "list", "--json"]);
    expect(offline.code, offline.stderr).toBe(0);
    expect((JSON.parse(offline.stdout) as { keys: Array<{ name: string }> }).keys.map((k) => k.name)).toContain("gw-api");
  }, 240_000);

  it("a second server on the same data directory refuses to start, and the first keeps serving", async () => {
    const dataDir = join(work, "second");
    const first = await serve(dataDir);
    try {
      const error = await serve(dataDir).then(
        () => null,
        (e: Error) => e,
      );
      expect(error?.message).toMatch(/exited with 1 before listening/);
      expect(error?.message).toContain(`the embedded database in ${dataDir} is in use by process ${first.child.pid}`);
      expect((await first.request("/v1/keys")).status).toBe(200);
    } finally {
      await stop(first);
    }
  }, 240_000);

  it("a lock left by a killed server does not block a new start, and is released on a clean stop", async () => {
    const dataDir = join(work, "stale");
    const lockFile = join(dataDir, "verdict.lock");
    const killed = await serve(dataDir);
    expect(JSON.parse(readFileSync(lockFile, "utf8"))).toMatchObject({ pid: killed.child.pid });
    const exited = new Promise((r) => killed.child.once("exit", r));
    killed.child.kill("SIGKILL");
    await exited;
    running.delete(killed);
    expect(existsSync(lockFile)).toBe(true); // SIGKILL leaves it behind
    const next = await serve(dataDir);
    try {
      expect(JSON.parse(readFileSync(lockFile, "utf8"))).toMatchObject({ pid: next.child.pid });
      expect((await next.request("/v1/keys")).status).toBe(200);
    } finally {
      await stop(next);
    }
    expect(existsSync(lockFile)).toBe(false);
  }, 240_000);

  it("a lock naming a live process that is not its holder (a reused pid) does not block a start", async () => {
    const dataDir = join(work, "reused");
    const lockFile = join(dataDir, "verdict.lock");
    // Initialise the directory, then forge a lock naming a live process (this test's own
    // process, pid reused) with another start time: what a crashed holder's pid taken by an
    // unrelated process looks like.
    await stop(await serve(dataDir));
    writeFileSync(lockFile, JSON.stringify({ pid: process.pid, startTime: "1", host: hostname(), startedAt: "2020-01-01T00:00:00.000Z", command: "verdict serve" }));
    const next = await serve(dataDir);
    try {
      expect(JSON.parse(readFileSync(lockFile, "utf8"))).toMatchObject({ pid: next.child.pid });
    } finally {
      await stop(next);
    }
  }, 240_000);

  it("of processes racing for a stale lock, exactly one takes it", async () => {
    const dataDir = join(work, "race");
    mkdirSync(dataDir, { recursive: true });
    const RACERS = 4;
    const ROUNDS = 3;
    const outcomes: string[][] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // A stale lock: a process that has exited.
      const dead = spawn(process.execPath, ["-e", ""]);
      const deadPid = dead.pid!;
      await new Promise((r) => dead.once("exit", r));
      writeFileSync(join(dataDir, "verdict.lock"), JSON.stringify({ pid: deadPid, startTime: null, boot: null, host: hostname(), startedAt: "2020-01-01T00:00:00.000Z", command: "verdict serve" }));
      const racers = Array.from({ length: RACERS }, () => {
        const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "test", "fixtures", "lock-race.ts"), dataDir], { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] });
        let out = "";
        /** Resolves with the first line it printed that starts with one of `words`. */
        const said = (...words: string[]) =>
          new Promise<string>((resolve, reject) => {
            const check = () => {
              const line = out.split("\n").find((l) => words.some((w) => l.startsWith(w)));
              if (line !== undefined) resolve(line);
            };
            child.stdout!.on("data", (d) => {
              out += d;
              check();
            });
            child.once("exit", (code) => reject(new Error(`racer exited with ${code}: ${out}`)));
            check();
          });
        return { child, ready: said("ready"), said };
      });
      await Promise.all(racers.map((r) => r.ready));
      // All loaded: signal them at once.
      for (const r of racers) r.child.stdin!.write("go\n");
      const results = await Promise.all(racers.map((r) => r.said("took", "refused")));
      outcomes.push(results);
      for (const r of racers) r.child.stdin!.end();
      await Promise.all(racers.map((r) => (r.child.exitCode !== null ? undefined : new Promise((res) => r.child.once("exit", res)))));
    }
    for (const results of outcomes) {
      expect(results.filter((r) => r === "took"), results.join(", ")).toHaveLength(1);
      expect(results.filter((r) => r === "refused DatabaseLockedError")).toHaveLength(RACERS - 1);
    }
    // The winner released it on exit.
    expect(existsSync(join(dataDir, "verdict.lock"))).toBe(false);
  }, 240_000);
});
