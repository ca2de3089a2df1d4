/**
 * Drives Verdict as a user would: the `verdict` command as a spawned process (exit code, stdout,
 * stderr), and `verdict serve` as a child process on a free port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./app.js";

/** The admin key tests give spawned servers and send on every request (HELPERS: auth lands in parallel). */
export const ADMIN_KEY = "test-admin-key-0123456789";
const BIN = join(ROOT, "bin", "verdict.js");

/** What a finished command left. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `verdict <args>` to completion. */
export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, VERDICT_ADMIN_KEY: ADMIN_KEY, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A `verdict serve` child process. */
export interface VerdictProcess {
  url: string;
  child: ChildProcess;
  /** Everything it logged so far. */
  output(): string;
  /** Sends a request with the admin key; a non-string `body` is sent as JSON. */
  request(path: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  /** SIGTERM, then waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `verdict serve` on a free port (PORT=0) and waits for it to listen.
 * @param env its environment on top of the test's (whose DATABASE_URL it does not inherit):
 *   DATABASE_URL or VERDICT_DATA_DIR, policy dirs
 * @throws when it exits or does not listen within 60 s
 */
export function startVerdictProcess(env: Record<string, string>, args: string[] = []): Promise<VerdictProcess> {
  const child = spawn(process.execPath, [BIN, "serve", ...args], {
    cwd: ROOT,
    // DATABASE_URL is not inherited: a test's server gets the database the test gives it (else PGlite).
    env: { ...process.env, DATABASE_URL: "", PORT: "0", HOST: "127.0.0.1", VERDICT_ADMIN_KEY: ADMIN_KEY, VERDICT_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`verdict did not start:\n${out}`));
    }, 60_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /"url":"(http:\/\/[^"]+)"[^\n]*verdict listening/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      const url = m[1]!;
      resolve({
        url,
        child,
        output: () => out,
        request: (path, init = {}) => {
          const body = init.body === undefined ? undefined : typeof init.body === "string" ? init.body : JSON.stringify(init.body);
          return fetch(url + path, {
            method: init.method ?? (body === undefined ? "GET" : "POST"),
            headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
            body,
          });
        },
        stop: async () => {
          if (child.exitCode === null) child.kill("SIGTERM");
          await exited;
        },
      });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`verdict exited with ${code} before listening:\n${out}`));
    });
  });
}
