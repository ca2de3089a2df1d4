/**
 * `@verdict/sdk` and `@verdict/mcp` as a gateway builder gets them (issue 12, "Must show"):
 * `npm pack -w` in the checkout (`prepack` builds them), then `npm install` of the tarballs into
 * empty folders under the OS temp directory, outside the checkout, and plain `node` there:
 * - the SDK alone, from an `app.mjs` and from an `app.cjs` using `require()`: an allow and a deny
 *   from a real Verdict, and a deny with a cause when Verdict is unreachable; its `node_modules`
 *   holds the SDK, zod, jose and canonicalize only, and at most 10 MiB;
 * - the MCP package with the MCP SDK: `verdict-mcp --help` from the installed bin, and the
 *   middleware guarding an MCP server from plain Node (ESM), and loaded by `require()`.
 * Installs prefer npm's cache (`--prefer-offline`): every package they need is in it once the
 * checkout's own `npm ci` has run (the MCP SDK at the checkout's version).
 */
import { execFile } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, relative } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, TEST_ADMIN_KEY } from "../helpers/app.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";
import { withBuildLock } from "../helpers/build-lock.js";

const run = promisify(execFile);
/** npm and the apps find this `node` first, whatever the PATH of the test runner. */
const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}` };
const NPM_TIMEOUT = 300_000;
/** The MCP SDK the checkout has installed (so in npm's cache): the peer the app installs. */
const MCP_SDK_VERSION = (JSON.parse(readFileSync(join(ROOT, "node_modules", "@modelcontextprotocol", "sdk", "package.json"), "utf8")) as { version: string }).version;
/** The server's own dependencies, none of which a gateway builder should get. */
const SERVER_DEPENDENCIES = ["@electric-sql/pglite", "@cedar-policy/cedar-wasm", "@cedar-policy/mcp-schema-generator-wasm", "drizzle-orm", "hono", "@hono/node-server", "pg", "tsx", "prom-client"];

let temp: string;
let verdict: TestVerdict;
let sdkApp: string;
let mcpApp: string;

/** Runs npm in `cwd` and returns its stdout. */
async function npm(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, env, timeout: NPM_TIMEOUT, maxBuffer: 16 << 20 });
  return stdout;
}

/** Runs `node file` in `cwd` with `extra` environment variables and returns its stdout. */
async function node(cwd: string, args: string[], extra: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd, env: { ...env, ...extra }, timeout: 60_000 });
  return stdout;
}

/** An empty npm project (a `package.json` only) in a new folder of `temp`. */
function emptyProject(name: string): string {
  const dir = join(temp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", private: true }));
  return dir;
}

/** The packages installed in `node_modules` (scoped ones as `@scope/name`), sorted. */
function installed(dir: string): string[] {
  const top = join(dir, "node_modules");
  return readdirSync(top)
    .filter((n) => !n.startsWith("."))
    .flatMap((n) => (n.startsWith("@") ? readdirSync(join(top, n)).map((m) => `${n}/${m}`) : [n]))
    .sort();
}

/**
 * The packages `name` brings into the install at `dir`: its `dependencies` and theirs, found as
 * Node finds them (the nearest `node_modules` up from the dependent), peers left out. Sorted.
 */
function dependencyClosure(dir: string, name: string): string[] {
  const found = new Set<string>();
  const visit = (pkgDir: string) => {
    const manifest = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(manifest.dependencies ?? {})) {
      let at = pkgDir;
      let depDir: string | undefined;
      for (;;) {
        const candidate = join(at, "node_modules", dep);
        if (existsSync(join(candidate, "package.json"))) {
          depDir = candidate;
          break;
        }
        if (at === dir || dirname(at) === at) break;
        at = dirname(at);
      }
      if (!depDir) throw new Error(`${dep}, a dependency of ${pkgDir}, is not installed`);
      if (found.has(`${dep}\0${depDir}`)) continue;
      found.add(`${dep}\0${depDir}`);
      visit(depDir);
    }
  };
  visit(join(dir, "node_modules", name));
  return [...new Set([...found].map((f) => f.split("\0")[0]!))].sort();
}

/** Bytes of every file below `dir` (symbolic links counted as links, not followed). */
function bytesBelow(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += lstatSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

beforeAll(async () => {
  temp = mkdtempSync(join(tmpdir(), "verdict-packages-"));
  expect(relative(ROOT, temp).startsWith("..")).toBe(true);
  const tarballs = join(temp, "tarballs");
  mkdirSync(tarballs);
  // `prepack` builds each package (tsc) before it is packed.
  // Under the build lock: test/e2e/build.test.ts rebuilds the same packages/*/dist.
  await withBuildLock(() => npm(ROOT, ["pack", "-w", "@verdict/sdk", "-w", "@verdict/mcp", "--pack-destination", tarballs]));
  expect(readdirSync(tarballs).sort()).toEqual(["verdict-mcp-0.1.0.tgz", "verdict-sdk-0.1.0.tgz"]);
  const sdkTarball = join(tarballs, "verdict-sdk-0.1.0.tgz");
  sdkApp = emptyProject("sdk-app");
  mcpApp = emptyProject("mcp-app");
  verdict = await startTestVerdict();
  await Promise.all([
    npm(sdkApp, ["install", "--prefer-offline", sdkTarball]),
    npm(mcpApp, ["install", "--prefer-offline", sdkTarball, join(tarballs, "verdict-mcp-0.1.0.tgz"), `@modelcontextprotocol/sdk@${MCP_SDK_VERSION}`]),
  ]);
}, 900_000);

afterAll(async () => {
  await verdict?.dispose();
  if (temp) rmSync(temp, { recursive: true, force: true });
});

/** What both apps print: an allow, a deny and an unreachable Verdict's deny, as JSON. */
const SDK_APP_BODY = `
const verdict = new VerdictClient({ baseUrl: process.env.VERDICT_URL, apiKey: process.env.VERDICT_API_KEY });
const read = { agent: "code-assistant", server: "filesystem", tool: "read_text_file", arguments: { path: "/tmp/verdict-sandbox/a.md" } };
const allow = await verdict.callTool(read);
const deny = await verdict.callTool({ ...read, agent: "report-bot" });
const unreachable = await new VerdictClient({ baseUrl: "http://127.0.0.1:0" }).callTool(read);
console.log(JSON.stringify({ allow, deny, unreachable }));
`;

describe("@verdict/sdk installed alone outside the checkout", () => {
  function expectDecisions(out: string): void {
    const { allow, deny, unreachable } = JSON.parse(out);
    expect(allow).toMatchObject({ decision: "allow", reasons: ["allow-file-reads"], decisionId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(allow.cause).toBeUndefined();
    expect(deny).toMatchObject({ decision: "deny", decisionId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(deny.cause).toBeUndefined();
    expect(unreachable).toMatchObject({ decision: "deny", decisionId: null, cause: { kind: "network" } });
  }
  const vars = () => ({ VERDICT_URL: verdict.url, VERDICT_API_KEY: TEST_ADMIN_KEY });

  it("allows, denies, and denies with a cause when Verdict is unreachable, from a plain app.mjs", async () => {
    writeFileSync(join(sdkApp, "app.mjs"), `import { VerdictClient } from "@verdict/sdk";\n${SDK_APP_BODY}`);
    expectDecisions(await node(sdkApp, ["app.mjs"], vars()));
  });

  it("does the same from app.cjs with require()", async () => {
    writeFileSync(join(sdkApp, "app.cjs"), `const { VerdictClient } = require("@verdict/sdk");\n(async () => {${SDK_APP_BODY}})();\n`);
    expectDecisions(await node(sdkApp, ["app.cjs"], vars()));
  });

  it("brings no server dependency and takes at most 10 MiB", () => {
    const names = installed(sdkApp);
    for (const server of SERVER_DEPENDENCIES) expect(names).not.toContain(server);
    expect(names).toEqual(["@verdict/sdk", "canonicalize", "jose", "zod"]);
    const bytes = bytesBelow(join(sdkApp, "node_modules"));
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(10 * 1024 * 1024);
  });
});

describe("@verdict/mcp installed outside the checkout", () => {
  it("runs verdict-mcp --help from the installed bin", async () => {
    const { stdout } = await run(join(mcpApp, "node_modules", ".bin", "verdict-mcp"), ["--help"], { cwd: mcpApp, env, timeout: 60_000 });
    expect(stdout).toMatch(/^Usage: verdict-mcp --server <id>/);
    expect(stdout).toContain("--verdict-url <url>");
  });

  it("brings no server dependency (the MCP SDK, and what it needs, is the app's own peer)", () => {
    expect(installed(mcpApp)).toEqual(expect.arrayContaining(["@modelcontextprotocol/sdk", "@verdict/mcp", "@verdict/sdk"]));
    const brought = dependencyClosure(mcpApp, "@verdict/mcp");
    expect(brought).toEqual(expect.arrayContaining(["@verdict/sdk", "commander", "pino", "zod", "jose", "canonicalize"]));
    expect(brought).not.toContain("@modelcontextprotocol/sdk");
    for (const server of SERVER_DEPENDENCIES) expect(brought).not.toContain(server);
  });

  it("guards an MCP server with the middleware from plain Node (ESM)", async () => {
    // Two tools as the pinned catalog has them: Verdict allows echo and forbids get-env.
    const catalog = JSON.parse(readFileSync(join(ROOT, "schema", "servers", "everything.json"), "utf8")) as { tools: Array<{ name: string }> };
    const offered = catalog.tools.filter((t) => t.name === "echo" || t.name === "get-env");
    expect(offered).toHaveLength(2);
    writeFileSync(
      join(mcpApp, "guarded.mjs"),
      `import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { connectWithVerdict, DENIED_CODE } from "@verdict/mcp";
import { VerdictClient } from "@verdict/sdk";

const tools = ${JSON.stringify(offered)};
const server = new Server({ name: "guarded", version: "1.0.0" }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
server.setRequestHandler(CallToolRequestSchema, (req) => ({ content: [{ type: "text", text: "ran " + req.params.name }] }));
const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
const verdict = new VerdictClient({ baseUrl: process.env.VERDICT_URL, apiKey: process.env.VERDICT_API_KEY });
await connectWithVerdict(server, serverSide, { verdict, agent: "code-assistant", server: "everything", user: "bob" });
const client = new Client({ name: "app", version: "1.0.0" });
await client.connect(clientSide);
const listed = (await client.listTools()).tools.map((t) => t.name);
const echo = await client.callTool({ name: "echo", arguments: { message: "hi" } });
const denied = await client.callTool({ name: "get-env", arguments: {} }).then(() => null, (e) => e.code);
console.log(JSON.stringify({ listed, echo: echo.content, denied, DENIED_CODE }));
await client.close();
`,
    );
    const out = JSON.parse(await node(mcpApp, ["guarded.mjs"], { VERDICT_URL: verdict.url, VERDICT_API_KEY: TEST_ADMIN_KEY }));
    expect(out.listed).toEqual(["echo"]);
    expect(out.echo).toEqual([{ type: "text", text: "ran echo" }]);
    expect(out.denied).toBe(out.DENIED_CODE);
    expect(typeof out.DENIED_CODE).toBe("number");
  });

  it("loads the middleware and the gateway with require(), one copy of the SDK beside it", async () => {
    const out = await node(mcpApp, [
      "-e",
      `const mcp = require("@verdict/mcp"); const sdk = require("@verdict/sdk"); const gateway = require("@verdict/mcp/gateway");
console.log(JSON.stringify({ connect: typeof mcp.connectWithVerdict, guard: typeof mcp.ToolGuard, start: typeof gateway.startGateway, sameVerifier: mcp.verifyCallCredential === sdk.verifyCallCredential }));`,
    ]);
    expect(JSON.parse(out)).toEqual({ connect: "function", guard: "function", start: "function", sameVerifier: true });
  });
});
