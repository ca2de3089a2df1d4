#!/usr/bin/env node
/**
 * The `verdict-mcp` command: an MCP gateway that asks Verdict before every tool call.
 *
 *   verdict-mcp --server filesystem --agent code-assistant -- npx @modelcontextprotocol/server-filesystem ./sandbox
 *   verdict-mcp --server everything --agent code-assistant --upstream-url http://127.0.0.1:3001/mcp --listen 8710
 *   verdict-mcp --server notes --agent-token-file /run/spire/agent.jwt --forward-credential --listen 8710 --upstream-url ...
 *   verdict-mcp --server filesystem --agent code-assistant --task CHORE-7 --end-task-on-exit -- npx @modelcontextprotocol/server-filesystem ./sandbox
 */
import { readFile } from "node:fs/promises";
import { Command, InvalidArgumentError, Option } from "commander";
import pino from "pino";
import type { TokenSource } from "../middleware/guard.js";
import { startGateway } from "./gateway.js";
import type { Upstream } from "./upstream.js";

const program = new Command();
program
  .name("verdict-mcp")
  .description("MCP gateway: filters tools/list and authorizes every tools/call with Verdict; passes everything else through")
  .usage("--server <id> (--agent <id> | --agent-token-file <path>) [options] (--upstream-url <url> | -- <command> [args...])")
  .requiredOption("--server <id>", "the upstream server's id in Verdict (its pinned catalog, the Cedar resource Mcp::Server)")
  .option("--agent <id>", "the agent this client is (the Cedar principal Mcp::Agent); optional with an agent token, which names it")
  .addOption(
    new Option("--agent-token-file <path>", "a file holding the agent's own token (JWT), re-read on every request; or the token itself in VERDICT_AGENT_TOKEN").env(
      "VERDICT_AGENT_TOKEN_FILE",
    ),
  )
  .option("--forward-credential", "ask Verdict for a per-call credential and forward it upstream in _meta[\"verdict/credential\"]")
  .option("--user <id>", "the user the agent acts for (overridden per request by _meta[\"verdict/user\"])")
  .option("--task <id>", "the task id (overridden per request by _meta[\"verdict/task\"])")
  .option("--task-kind <kind>", "the task's kind, e.g. incident")
  .option(
    "--end-task-on-exit",
    "when a session ends (client gone, SIGTERM/SIGINT), end every task it named to Verdict (POST /v1/tasks/{id}/end; later calls naming it are denied), waiting at most 3 s",
  )
  .addOption(new Option("--verdict-url <url>", "Verdict's base URL").env("VERDICT_URL").default("http://127.0.0.1:8700"))
  .addOption(new Option("--api-key <key>", "Verdict API key (sent as Authorization: Bearer)").env("VERDICT_API_KEY"))
  .option("--timeout <ms>", "how long to wait for Verdict before denying", positiveInt, 2000)
  .option("--upstream-url <url>", "the upstream server's Streamable HTTP endpoint (instead of a command after --)")
  .option("--listen <port>", "serve clients over Streamable HTTP on this port (default: serve one client over stdio)", port)
  .option("--host <host>", "interface to listen on with --listen", "127.0.0.1")
  .option("--allowed-hosts <names>", "comma-separated host names accepted in Host/Origin (default: localhost, 127.0.0.1, ::1)", list)
  .option("--allowed-origins <origins>", "comma-separated extra origins accepted in Origin, e.g. https://app.example", list)
  .addOption(new Option("--log-level <level>", "log level (logs go to stderr)").choices(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"))
  .argument("[command...]", "the upstream server's command and arguments, after --")
  .showHelpAfterError()
  .action(async (command: string[], opts) => {
    let upstream: Upstream;
    if (opts.upstreamUrl && command.length) program.error("give either --upstream-url or a command after --, not both");
    else if (opts.upstreamUrl) upstream = { url: opts.upstreamUrl };
    else if (command.length) upstream = { command: command[0]!, args: command.slice(1), env: inheritedEnv() };
    else program.error("no upstream: give --upstream-url <url> or a command after --");
    if (opts.taskKind && !opts.task) program.error("--task-kind needs --task");
    if (opts.agentTokenFile && process.env.VERDICT_AGENT_TOKEN) program.error("give --agent-token-file or VERDICT_AGENT_TOKEN, not both");
    const agentTokenFile: string | undefined = opts.agentTokenFile;
    // A file is re-read on every request: token helpers (SPIFFE, OIDC sidecars) rewrite it as it rotates.
    const agentToken: TokenSource | undefined = agentTokenFile ? async () => (await readFile(agentTokenFile, "utf8")).trim() : process.env.VERDICT_AGENT_TOKEN;
    if (!opts.agent && !agentToken) program.error("give --agent <id>, or an agent token (--agent-token-file or VERDICT_AGENT_TOKEN) that names the agent");
    const logger = pino({ level: opts.logLevel, base: { component: "verdict-mcp" } }, pino.destination(2));
    const gateway = await startGateway({
      verdict: { baseUrl: opts.verdictUrl, apiKey: opts.apiKey, timeout: opts.timeout },
      agent: opts.agent,
      agentToken,
      forwardCredential: Boolean(opts.forwardCredential),
      endTaskOnExit: Boolean(opts.endTaskOnExit),
      server: opts.server,
      user: opts.user,
      task: opts.task ? { id: opts.task, ...(opts.taskKind ? { kind: opts.taskKind } : {}) } : undefined,
      upstream: upstream!,
      listen: opts.listen === undefined ? undefined : { port: opts.listen, host: opts.host, allowedHosts: opts.allowedHosts, allowedOrigins: opts.allowedOrigins },
      logger,
    });
    // Over HTTP, print the URL on stdout so scripts (and people) can find a port-0 endpoint.
    if (gateway.url) process.stdout.write(`${gateway.url}\n`);
    const stop = () => void gateway.close().then(() => process.exit(0));
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    await gateway.closed;
    process.exit(0);
  });

/** Variables of the gateway's own secrets, which a stdio upstream never gets. */
const GATEWAY_SECRETS = new Set(["VERDICT_API_KEY", "VERDICT_AGENT_TOKEN", "VERDICT_AGENT_TOKEN_FILE"]);

/**
 * The gateway's environment, passed on to a stdio upstream (the MCP client configured it for that
 * server), without the gateway's own API key and agent token: no token passthrough.
 */
function inheritedEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !GATEWAY_SECRETS.has(e[0])));
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("must be a positive integer");
  return n;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("must be a port number (0 to 65535)");
  return n;
}

function list(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter(Boolean);
}

await program.parseAsync(process.argv);
