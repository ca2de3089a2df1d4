/**
 * SIGTERM: Verdict stops accepting, answers what is in flight, commits what is queued, exits 0.
 * Spawns Verdict as a real process (the way `npm start` runs it) on port 0, reading the port it
 * bound from its "verdict listening" log line, with a database
 * of this test's own: a fresh Postgres database when DATABASE_URL is set, else PGlite in a
 * temporary directory that is reopened after the process has exited.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client.js";
import { ROOT } from "../helpers/app.js";
import { createPostgresDatabase, usingPostgres } from "../helpers/db.js";
import { TEST_ADMIN_KEY } from "../helpers/app.js";

const headers = { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_KEY}` };

let child: ChildProcess | undefined;
let dataDir: string | undefined;
let pgDb: { url: string; drop(): Promise<void> } | undefined;
let port: number;
const logLines: Array<Record<string, unknown>> = [];

/** Decision ids present in the database Verdict wrote to (read after it exited). */
async function recordedIds(): Promise<Set<string>> {
  if (pgDb) {
    const client = new pg.Client({ connectionString: pgDb.url });
    await client.connect();
    try {
      return new Set((await client.query("SELECT id FROM decisions")).rows.map((r) => r.id as string));
    } finally {
      await client.end();
    }
  }
  const database = await openDatabase({ dataDir: dataDir! });
  try {
    const rows = await database.db.execute<{ id: string }>("SELECT id FROM decisions" as never);
    return new Set((rows as unknown as { rows: Array<{ id: string }> }).rows.map((r) => r.id));
  } finally {
    await database.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    // The process binds a port of its own choosing and logs it: no port is probed and released.
    PORT: "0",
    HOST: "127.0.0.1",
    VERDICT_ADMIN_KEY: TEST_ADMIN_KEY,
    VERDICT_LOG_LEVEL: "info",
  };
  if (usingPostgres) {
    pgDb = await createPostgresDatabase();
    env.DATABASE_URL = pgDb.url;
  } else {
    delete env.DATABASE_URL;
    dataDir = mkdtempSync(join(tmpdir(), "verdict-sigterm-"));
    env.VERDICT_DATA_DIR = dataDir;
  }
  child = spawn(process.execPath, ["--import", "tsx", "src/index.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "inherit"] });
  let buffer = "";
  let listening: (url: string) => void;
  const url = new Promise<string>((resolve) => (listening = resolve));
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("utf8");
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        entry = { msg: line };
      }
      logLines.push(entry);
      // Logged once the socket is bound and everything /readyz checks is ready.
      if (entry.msg === "verdict listening" && typeof entry.url === "string") listening(entry.url);
    }
  });
  const exitedEarly = new Promise<never>((_, reject) => child!.once("exit", (code) => reject(new Error(`verdict exited early with ${code}`))));
  port = Number(new URL(await Promise.race([url, exitedEarly])).port);
  exitedEarly.catch(() => undefined); // the test's own SIGTERM ends it later
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`, { headers });
  expect(ready.status).toBe(200);
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  await pgDb?.drop();
});

/**
 * Opens a raw keep-alive connection and sends a tools/call whose body arrives only when `finish`
 * is called. The answer is read when the server closes the connection, which it does after the
 * answer only because it is shutting down.
 */
type RawAnswer = { status: number; connection: string | undefined; json: { decisionId: string; decision: string } };
function slowRequest(body: string): { finish(): void; sent: Promise<void>; answer: Promise<RawAnswer> } {
  const socket = connect(port, "127.0.0.1");
  const head = `POST /v1/mcp/tools/call HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nauthorization: Bearer ${TEST_ADMIN_KEY}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
  const half = Math.floor(body.length / 2);
  /** Resolves once the head and the first half of the body have been handed to the connection. */
  const sent = new Promise<void>((resolve, reject) => socket.write(head + body.slice(0, half), (e) => (e ? reject(e) : resolve())));
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    let raw = "";
    socket.on("data", (d) => (raw += d.toString("utf8")));
    socket.on("error", reject);
    socket.on("close", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
      const responseHead = raw.slice(0, raw.indexOf("\r\n\r\n"));
      const text = raw.slice(raw.indexOf("\r\n\r\n") + 4);
      const connection = /^connection: *(.*)$/im.exec(responseHead)?.[1]?.trim().toLowerCase();
      try {
        resolve({ status, connection, json: JSON.parse(text) });
      } catch (e) {
        reject(new Error(`unexpected answer: ${raw}`, { cause: e }));
      }
    });
  });
  return { finish: () => socket.write(body.slice(half)), sent, answer };
}

/**
 * A gateway-like client: one keep-alive connection, one request after the other, until told to
 * stop or the connection is refused. A busy keep-alive connection must not hold shutdown open.
 */
function keepAliveClient(body: (i: number) => string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const answers: Array<{ status: number; connection: string | undefined; decisionId: string }> = [];
  let stop = false;
  const one = (i: number) =>
    new Promise<boolean>((resolve) => {
      const req = request({ host: "127.0.0.1", port, method: "POST", path: "/v1/mcp/tools/call", agent, headers }, (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          answers.push({ status: res.statusCode!, connection: res.headers.connection, decisionId: JSON.parse(text).decisionId });
          resolve(true);
        });
      });
      req.on("error", () => resolve(false));
      req.end(body(i));
    });
  const done = (async () => {
    for (let i = 0; !stop && i < 100_000; i++) if (!(await one(i))) break;
    agent.destroy();
  })();
  return { answers, stop: () => ((stop = true), done) };
}

/** What a new TCP connection to Verdict's port gets: `connected`, or the error code. */
function tryConnect(): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve("connected");
    });
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
  });
}

describe("SIGTERM", () => {
  it("stops accepting, answers and records what is in flight, then exits 0", async () => {
    const exited = new Promise<number | null>((resolve) => child!.once("exit", (code) => resolve(code)));
    const body = (i: number) =>
      JSON.stringify({ agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: `/srv/runbooks/${i}.md` } });

    // A request whose body is still arriving when SIGTERM comes: it must be answered.
    const slow = slowRequest(body(-1));
    const gateway = keepAliveClient((i) => body(1000 + i));
    // Both are under way before the burst (no fixed sleep): the slow request's first half is on
    // its connection, and the keep-alive client has had an answer. The server accepts in order,
    // so the 20 burst answers awaited below also mean the slow connection was accepted first.
    await slow.sent;
    const gatewayDeadline = Date.now() + 30_000;
    while (gateway.answers.length === 0 && Date.now() < gatewayDeadline) await sleep(5);
    expect(gateway.answers.length, "keep-alive answers before the burst").toBeGreaterThan(0);

    let answered = 0;
    type Outcome = { status: number; json: { decisionId?: string; decision?: string }; error?: string };
    const burst = Array.from({ length: 200 }, (_, i): Promise<Outcome> =>
      fetch(`http://127.0.0.1:${port}/v1/mcp/tools/call`, { method: "POST", headers, body: body(i) }).then(
        async (res) => {
          answered++;
          return { status: res.status, json: (await res.json()) as { decisionId?: string; decision?: string } };
        },
        (e: Error): Outcome => ({ status: 0, json: {}, error: String(e.cause ?? e) }),
      ),
    );
    const burstDeadline = Date.now() + 30_000;
    while (answered < 20 && Date.now() < burstDeadline) await sleep(1);
    expect(answered, "answers before SIGTERM").toBeGreaterThanOrEqual(20);
    child!.kill("SIGTERM");
    const shutdownLogged = Date.now() + 10_000;
    while (!logLines.some((l) => String(l.msg).startsWith("shutting down")) && Date.now() < shutdownLogged) await sleep(5);
    expect(logLines.some((l) => String(l.msg).startsWith("shutting down"))).toBe(true);

    // Shutdown has started and the slow request holds it open: new connections are refused.
    expect(child!.exitCode).toBeNull();
    expect(await tryConnect(), "a new connection after shutdown started").toBe("ECONNREFUSED");

    slow.finish();
    const slowAnswer = await slow.answer;
    const results = await Promise.all(burst);
    const code = await exited;
    await gateway.stop();

    expect(code).toBe(0);
    expect(slowAnswer.status).toBe(200);
    const answers = results.filter((r) => r.status !== 0);
    expect(answers.length).toBeGreaterThanOrEqual(20);
    expect(answers.filter((r) => r.status !== 200)).toEqual([]);
    // The request in flight at SIGTERM was told the connection closes after it. (The keep-alive
    // client's last answer may predate shutdown: its idle connection is then closed under it.)
    expect(slowAnswer.connection).toBe("close");
    expect(gateway.answers.length).toBeGreaterThan(0);
    expect(gateway.answers.filter((a) => a.status !== 200)).toEqual([]);

    const ids = await recordedIds();
    const missing = [...answers.map((r) => r.json.decisionId!), slowAnswer.json.decisionId, ...gateway.answers.map((a) => a.decisionId)].filter(
      (id) => !ids.has(id),
    );
    expect(missing).toEqual([]);
    expect(logLines.map((l) => l.msg), "log of a clean stop").toContain("stopped");
  }, 120_000);
});
