/**
 * `npm run bench:gateway [-- --calls N]`: the per-call latency the `verdict-mcp` gateway adds,
 * measured with the official MCP SDK client, sequential calls, against calling the upstream directly:
 * - stdio: `read_text_file` on the real server-filesystem, direct vs through the gateway spawned
 *   over stdio (as an MCP client configuration runs it);
 * - Streamable HTTP: `echo` on the real server-everything, direct vs through the gateway over HTTP.
 * Verdict, the gateway and the upstream each run in their own process, as deployed; Verdict on a
 * free port with embedded PGlite in a temp directory (or `DATABASE_URL`), so "through the
 * gateway" includes Verdict's decision and its durable recording.
 * Also measures Verdict's `POST /v1/mcp/tools/call` alone through the SDK. Prints a table and
 * writes JSON to tools/bench/results/gateway-overhead.json.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { VerdictClient } from "../../packages/sdk/src/client.js";
import { EVERYTHING_SERVER, FILESYSTEM_SERVER, GATEWAY_BIN } from "../../test/helpers/mcp.js";
import { freePort } from "./support.js";

const { values } = parseArgs({ options: { calls: { type: "string", default: "500" }, warmup: { type: "string", default: "100" } } });
const CALLS = Number(values.calls);
const WARMUP = Number(values.warmup);
const ROOT = join(import.meta.dirname, "..", "..");
const KEY = "bench-admin-key-0123456789";

interface Stats {
  calls: number;
  medianMs: number;
  p99Ms: number;
  meanMs: number;
}

async function measure(call: () => Promise<unknown>): Promise<Stats> {
  for (let i = 0; i < WARMUP; i++) await call();
  const times: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t = process.hrtime.bigint();
    await call();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]!;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { calls: CALLS, medianMs: round(at(0.5)), p99Ms: round(at(0.99)), meanMs: round(times.reduce((a, b) => a + b, 0) / times.length) };
}

const dataDir = mkdtempSync(join(tmpdir(), "verdict-bench-db-"));
mkdirSync("/tmp/verdict-sandbox", { recursive: true });
const sandbox = mkdtempSync("/tmp/verdict-sandbox/bench-");
const file = join(sandbox, "notes.md");
writeFileSync(file, "benchmark\n");
const children: ChildProcess[] = [];
const clients: Client[] = [];

/** Spawns a process and resolves with the first match of `pattern` in its stdout. */
async function spawnAndRead(args: string[], env: Record<string, string | undefined>, pattern: RegExp): Promise<string> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = pattern.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited (${code}): ${out}`)));
  });
}

const verdictUrl = await spawnAndRead(
  ["--import", "tsx", join(ROOT, "src", "index.ts")],
  { ...process.env, PORT: "0", VERDICT_DATA_DIR: dataDir, VERDICT_ADMIN_KEY: KEY, VERDICT_LOG_LEVEL: "info" },
  /"url":"(http:[^"]+)"/,
);

async function connect(transport: StdioClientTransport | StreamableHTTPClientTransport): Promise<Client> {
  const client = new Client({ name: "bench", version: "1.0.0" });
  await client.connect(transport);
  clients.push(client);
  return client;
}

try {
  const results: Record<string, Stats> = {};
  const read = { name: "read_text_file", arguments: { path: file } };

  const fsDirect = await connect(new StdioClientTransport({ command: process.execPath, args: [FILESYSTEM_SERVER, sandbox], stderr: "ignore" }));
  results["stdio: server-filesystem direct"] = await measure(() => fsDirect.callTool(read));
  const fsGateway = await connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [GATEWAY_BIN, "--server", "filesystem", "--agent", "code-assistant", "--verdict-url", verdictUrl, "--log-level", "warn", "--", process.execPath, FILESYSTEM_SERVER, sandbox],
      env: { PATH: process.env.PATH ?? "", VERDICT_API_KEY: KEY },
      stderr: "ignore",
    }),
  );
  results["stdio: server-filesystem through verdict-mcp"] = await measure(() => fsGateway.callTool(read));

  const port = await freePort();
  const everything = spawn(process.execPath, [EVERYTHING_SERVER, "streamableHttp"], { env: { ...process.env, PORT: String(port) }, stdio: ["ignore", "ignore", "pipe"] });
  children.push(everything);
  await new Promise<void>((resolve) => everything.stderr!.on("data", (c: Buffer) => c.toString().includes("listening on port") && resolve()));
  const upstreamUrl = `http://127.0.0.1:${port}/mcp`;
  const echo = { name: "echo", arguments: { message: "hi" } };
  const httpDirect = await connect(new StreamableHTTPClientTransport(new URL(upstreamUrl)));
  results["http: server-everything direct"] = await measure(() => httpDirect.callTool(echo));
  const gatewayUrl = await spawnAndRead(
    [GATEWAY_BIN, "--server", "everything", "--agent", "code-assistant", "--verdict-url", verdictUrl, "--log-level", "warn", "--listen", "0", "--upstream-url", upstreamUrl],
    { ...process.env, VERDICT_API_KEY: KEY },
    /^(http:\S+)$/m,
  );
  const httpGateway = await connect(new StreamableHTTPClientTransport(new URL(gatewayUrl)));
  results["http: server-everything through verdict-mcp"] = await measure(() => httpGateway.callTool(echo));

  const sdk = new VerdictClient({ baseUrl: verdictUrl, apiKey: KEY });
  results["verdict POST /v1/mcp/tools/call (SDK)"] = await measure(async () => {
    const d = await sdk.callTool({ agent: "code-assistant", server: "filesystem", tool: "read_text_file", arguments: { path: file } });
    if (d.decision !== "allow") throw new Error(`unexpected deny: ${d.message}`);
  });

  for (const c of clients.splice(0)) await c.close();

  const overhead = (through: string, direct: string) => ({
    medianMs: Math.round((results[through]!.medianMs - results[direct]!.medianMs) * 1000) / 1000,
    p99Ms: Math.round((results[through]!.p99Ms - results[direct]!.p99Ms) * 1000) / 1000,
  });
  const report = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, database: process.env.DATABASE_URL ? "postgres" : "pglite" },
    warmup: WARMUP,
    results,
    overhead: {
      stdio: overhead("stdio: server-filesystem through verdict-mcp", "stdio: server-filesystem direct"),
      http: overhead("http: server-everything through verdict-mcp", "http: server-everything direct"),
    },
  };
  console.log(`${CALLS} sequential calls each (after ${WARMUP} warm-up), ${report.machine.cpus} CPUs (${report.machine.model}), ${report.machine.node}, ${report.machine.database}\n`);
  console.log(`${"".padEnd(46)} ${"median ms".padStart(10)} ${"p99 ms".padStart(10)}`);
  for (const [name, s] of Object.entries(results)) console.log(`${name.padEnd(46)} ${s.medianMs.toFixed(3).padStart(10)} ${s.p99Ms.toFixed(3).padStart(10)}`);
  console.log(`\ngateway overhead, stdio: median +${report.overhead.stdio.medianMs} ms, p99 +${report.overhead.stdio.p99Ms} ms`);
  console.log(`gateway overhead, http:  median +${report.overhead.http.medianMs} ms, p99 +${report.overhead.http.p99Ms} ms`);
  mkdirSync(join(ROOT, "tools", "bench", "results"), { recursive: true });
  writeFileSync(join(ROOT, "bench", "results", "gateway-overhead.json"), JSON.stringify(report, null, 2) + "\n");
} finally {
  for (const c of clients) await c.close().catch(() => undefined);
  // SIGTERM: Verdict finishes what is queued and closes its database before exiting.
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => (c.once("exit", r), c.kill())) : undefined)));
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(sandbox, { recursive: true, force: true });
}
