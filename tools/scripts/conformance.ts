/**
 * `npm run conformance [-- --scenario <name>]... [-- --upstream-url <url>]`: the MCP conformance
 * suite (`@modelcontextprotocol/conformance`, server mode) run through the `verdict-mcp` gateway
 * in front of Verdict's own implementation of the suite's server scenarios
 * (test/fixtures/conformance/target-server.ts: the suite's reference server is not published on
 * npm, and this project does not vendor other repositories' code), with Verdict deciding from the
 * fixture policy set there. With `--upstream-url`, the gateway fronts that server instead (the
 * suite's reference server, run from a checkout of its repository: see the README), and its
 * catalog is pinned from it at start. Scenarios that policy denies on purpose are listed
 * in test/fixtures/conformance/expected-failures.yml; anything else failing fails the run.
 *
 * The suite is a pinned devDependency: `npm ci` installs it from the lockfile, and nothing is
 * installed here. When it is missing (or another version), the run stops with exit code 3 and
 * says so. It runs on this Node (20+); on Node 20 a preload supplies the one Node 22 export its
 * bundle imports and server mode never calls (test/fixtures/conformance/node20-fs-glob.mjs).
 * Exit code: the suite's (0 when only expected failures failed).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import { captureHttpCatalog } from "../../src/catalog/capture.js";
import { loadConfig } from "../../src/config.js";
import { startGateway } from "../../packages/mcp/src/gateway/gateway.js";
import { startServer } from "../../src/server.js";

const SUITE_VERSION = "0.1.16";
const ROOT = join(import.meta.dirname, "..", "..");
const FIXTURES = join(ROOT, "test", "fixtures", "conformance");

const { values } = parseArgs({
  options: { scenario: { type: "string", multiple: true }, verbose: { type: "boolean" }, "upstream-url": { type: "string" } },
});
const env = process.env;

/** The installed suite's CLI, or exit 3 with what to do: it comes from `npm ci`, never from here. */
function suiteEntry(): string {
  let manifest: string;
  try {
    manifest = createRequire(import.meta.url).resolve("@modelcontextprotocol/conformance/package.json");
  } catch {
    console.error(`@modelcontextprotocol/conformance is not installed: run \`npm ci\` (it is a devDependency, pinned to ${SUITE_VERSION}); nothing is installed at test time`);
    process.exit(3);
  }
  const version = (JSON.parse(readFileSync(manifest, "utf8")) as { version?: string }).version;
  const cli = join(dirname(manifest), "dist", "index.js");
  if (version !== SUITE_VERSION || !existsSync(cli)) {
    console.error(`@modelcontextprotocol/conformance ${version ?? "?"} is installed, ${SUITE_VERSION} is expected: run \`npm ci\``);
    process.exit(3);
  }
  return cli;
}
const suiteCli = suiteEntry();

const children: ChildProcess[] = [];

/** Starts Verdict's own target server (test/fixtures/conformance/target-server.ts); resolves with its MCP endpoint. */
function startTarget(): Promise<string> {
  const target = spawn(process.execPath, ["--import", "tsx", join(FIXTURES, "target-server.ts")], {
    cwd: ROOT,
    env: { ...env, PORT: "0" },
    stdio: ["ignore", "pipe", values.verbose ? "inherit" : "ignore"],
  });
  children.push(target);
  return new Promise<string>((resolve, reject) => {
    let out = "";
    target.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /MCP endpoint (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    target.once("exit", (code) => reject(new Error(`the target server exited (${code}): ${out}`)));
  });
}

const work = mkdtempSync(join(tmpdir(), "verdict-conformance-run-"));
let exitCode = 1;
try {
  // The schema directory: Verdict's base schema and the target server's pinned catalog.
  const schemaDir = join(work, "schema");
  mkdirSync(join(schemaDir, "servers"), { recursive: true });
  copyFileSync(join(ROOT, "schema", "mcp.cedarschema"), join(schemaDir, "mcp.cedarschema"));
  if (values["upstream-url"]) {
    const catalog = await captureHttpCatalog(values["upstream-url"]);
    writeFileSync(join(schemaDir, "servers", "conformance.json"), `${JSON.stringify(catalog, null, 2)}\n`);
    console.error(`pinned ${catalog.tools.length} tools of ${values["upstream-url"]}`);
  } else {
    copyFileSync(join(FIXTURES, "servers", "conformance.json"), join(schemaDir, "servers", "conformance.json"));
  }

  const verdict = await startServer(
    {
      ...loadConfig({}),
      port: 0,
      host: "127.0.0.1",
      databaseUrl: env.DATABASE_URL || undefined,
      dataDir: join(work, "db"),
      policyDir: join(FIXTURES, "policies"),
      schemaDir,
      // An admin key of this run's own, so Verdict does not announce a bootstrap key; the gateway gets a `pep` key.
      adminKey: randomBytes(32).toString("base64url"),
      logLevel: "silent",
    },
    pino({ level: "silent" }),
  );
  const gatewayKey = (await verdict.apiKeys.create({ name: "conformance-gateway", role: "pep" })).key;
  const upstreamUrl = values["upstream-url"] ?? (await startTarget());
  const gateway = await startGateway({
    verdict: { baseUrl: verdict.url, apiKey: gatewayKey },
    agent: "conformance-client",
    server: "conformance",
    upstream: { url: upstreamUrl },
    listen: { port: 0 },
    logger: pino({ level: values.verbose ? "trace" : "silent" }, pino.destination(2)),
  });
  // The suite checks DNS-rebinding protection against `localhost` URLs.
  const url = gateway.url!.replace("127.0.0.1", "localhost");
  console.error(`Verdict ${verdict.url}, target server ${upstreamUrl}, gateway ${url}`);

  const scenarios = values.scenario ?? [undefined];
  exitCode = 0;
  for (const scenario of scenarios) {
    const args = [suiteCli, "server", "--url", url, "--expected-failures", join(FIXTURES, "expected-failures.yml")];
    if (scenario) args.push("--scenario", scenario);
    if (values.verbose) args.push("--verbose");
    const suite = spawn(process.execPath, ["--import", join(FIXTURES, "node20-fs-glob.mjs"), ...args], { cwd: work, stdio: "inherit" });
    children.push(suite);
    const code = await new Promise<number>((resolve) => suite.once("exit", (c) => resolve(c ?? 1)));
    if (code !== 0) exitCode = code;
  }
  await gateway.close();
  await verdict.stop();
} finally {
  for (const c of children) if (c.exitCode === null) c.kill();
  rmSync(work, { recursive: true, force: true });
}
process.exit(exitCode);
