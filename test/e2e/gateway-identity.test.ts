/**
 * Verified identity and per-call credentials through the gateway, real parts only: two JWT
 * issuers made by the test (their JWKS over local HTTP), Verdict trusting them (real HTTP, the
 * test database), the `verdict-mcp` bin over Streamable HTTP with the agent's token in a file and
 * `--forward-credential`, the official MCP SDK client sending the user's bearer token, and an
 * upstream MCP server built with the MCP SDK and Verdict's MCP middleware, which verifies each
 * forwarded credential against Verdict's JWKS before its handler runs. The upstream records every
 * HTTP request it receives, and can change a call's arguments on the way in.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecisionRecord } from "../../src/contract/decision-log.js";
import { connectWithVerdict, META_CREDENTIAL } from "../../packages/mcp/src/middleware/index.js";
import { EXAMPLE_SCHEMA_DIR, TEST_ADMIN_KEY } from "../helpers/app.js";
import { createTestIssuer, type TestIssuer } from "../helpers/issuer.js";
import { denial, GATEWAY_BIN } from "../helpers/mcp.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

const SPIFFE = "spiffe://acme.test/agent/";
const catalog = JSON.parse(readFileSync(join(EXAMPLE_SCHEMA_DIR, "servers", "everything.json"), "utf8")) as { tools: Array<{ name: string }> };
const offered = catalog.tools.filter((t) => t.name === "echo");

let dir: string;
let agents: TestIssuer;
let users: TestIssuer;
let verdict: TestVerdict;
let upstream: { url: string; close(): Promise<void> };
let gateway: ChildProcess;
let gatewayUrl: string;
let gatewayLog = "";
let agentToken: string;
let userToken: string;
const clients: Client[] = [];

/** What the upstream received: each HTTP request, and each call its handler ran. */
const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
const handled: Array<{ name: string; arguments: unknown; meta: Record<string, unknown> | undefined }> = [];
/** Changes a JSON-RPC body on its way into the upstream (a man in the middle), when set. */
let tamper: ((body: { method?: string; params?: { arguments?: Record<string, unknown> } }) => void) | undefined;

/** The upstream: an MCP SDK server per session, behind the MCP middleware in credential-checking mode. */
async function startUpstream(verdictUrl: string): Promise<{ url: string; close(): Promise<void> }> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const http: HttpServer = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString("utf8");
      received.push({ headers: req.headers, body: text });
      const body = text ? JSON.parse(text) : undefined;
      if (body && tamper) tamper(body);
      const sessionId = req.headers["mcp-session-id"];
      let transport = typeof sessionId === "string" ? sessions.get(sessionId) : undefined;
      if (!transport) {
        const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
          sessionIdGenerator: randomUUID,
          onsessioninitialized: (id) => void sessions.set(id, created),
        });
        const server = new Server({ name: "credential-checking", version: "1.0.0" }, { capabilities: { tools: {} } });
        server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: offered }) as never);
        server.setRequestHandler(CallToolRequestSchema, (r) => {
          handled.push({ name: r.params.name, arguments: r.params.arguments, meta: r.params._meta });
          return { content: [{ type: "text", text: `echo: ${String(r.params.arguments?.message)}` }] };
        });
        await connectWithVerdict(server, created, {
          server: "everything",
          verifyCredential: { issuer: verdictUrl, jwksUrl: `${verdictUrl}/.well-known/jwks.json` },
        });
        transport = created;
      }
      await transport.handleRequest(req, res, body);
    })().catch((e: unknown) => res.writableEnded || res.writeHead(500).end(String(e)));
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    close: async () => {
      await Promise.allSettled([...sessions.values()].map((t) => t.close()));
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

async function connect(url: string, bearer?: string): Promise<Client> {
  const client = new Client({ name: "identity-e2e", version: "1.0.0" });
  const requestInit = bearer ? { headers: { authorization: `Bearer ${bearer}` } } : undefined;
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit }));
  clients.push(client);
  return client;
}

async function latestDecision(): Promise<DecisionRecord> {
  const res = await fetch(`${verdict.url}/v1/decisions?server=everything&tool=echo&limit=1`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
  return ((await res.json()) as { decisions: DecisionRecord[] }).decisions[0]!;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "verdict-gateway-identity-"));
  agents = await createTestIssuer("https://agents.acme.test", "http");
  users = await createTestIssuer("https://idp.acme.test", "http", "RS256");
  verdict = await startTestVerdict({
    issuers: [
      { issuer: agents.issuer, jwksUrl: agents.jwksUrl, audience: "verdict", kind: "agent", idClaim: "sub", idPrefix: SPIFFE, clockToleranceSeconds: 0 },
      { issuer: users.issuer, jwksUrl: users.jwksUrl, audience: "verdict", kind: "user", idClaim: "preferred_username", clockToleranceSeconds: 0 },
    ],
  });
  upstream = await startUpstream(verdict.url);
  agentToken = await agents.sign({ sub: `${SPIFFE}code-assistant`, aud: "verdict" });
  userToken = await users.sign({ sub: "u-bob", preferred_username: "bob", aud: "verdict", act: { sub: `${SPIFFE}code-assistant` } });
  const tokenFile = join(dir, "agent.jwt");
  writeFileSync(tokenFile, `${agentToken}\n`);
  const pepKey = (await verdict.server.apiKeys.create({ name: "identity-gateway", role: "pep" })).key;
  gateway = spawn(
    process.execPath,
    [GATEWAY_BIN, "--server", "everything", "--agent-token-file", tokenFile, "--forward-credential", "--verdict-url", verdict.url, "--listen", "0", "--upstream-url", upstream.url, "--log-level", "trace"],
    { env: { PATH: process.env.PATH ?? "", VERDICT_API_KEY: pepKey }, stdio: ["ignore", "pipe", "pipe"] },
  );
  gateway.stderr!.on("data", (c: Buffer) => (gatewayLog += c.toString()));
  gatewayUrl = await new Promise<string>((resolve, reject) => {
    let out = "";
    gateway.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /^(http:\S+)$/m.exec(out);
      if (m) resolve(m[1]!);
    });
    gateway.once("exit", (code) => reject(new Error(`verdict-mcp exited (${code}): ${gatewayLog}`)));
  });
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  if (gateway && gateway.exitCode === null) await new Promise((r) => (gateway.once("exit", r), gateway.kill()));
  await upstream?.close();
  await verdict?.dispose();
  await Promise.all([agents?.close(), users?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe("the gateway passes verified identities and forwards a per-call credential", () => {
  it("an allowed call runs upstream with a credential the middleware verified, and Verdict records both verified identities", async () => {
    const client = await connect(gatewayUrl, userToken);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["echo"]);
    const result = await client.callTool({ name: "echo", arguments: { message: "hi" } });
    expect(result.content).toEqual([{ type: "text", text: "echo: hi" }]);

    expect(handled).toHaveLength(1);
    const credential = handled[0]!.meta?.[META_CREDENTIAL];
    expect(typeof credential).toBe("string");
    const claims = decodeJwt(credential as string);
    const record = await latestDecision();
    expect(record).toMatchObject({
      decision: "allow",
      agent: "code-assistant",
      user: "bob",
      delegation: [{ sub: `${SPIFFE}code-assistant` }],
      identity: {
        agent: { id: "code-assistant", verified: true, issuer: agents.issuer, subject: `${SPIFFE}code-assistant` },
        user: { id: "bob", verified: true, issuer: users.issuer, subject: "bob" },
      },
      credentialJti: claims.jti,
    });
    expect(claims).toMatchObject({ sub: "bob", act: { sub: "code-assistant" }, aud: "everything", txn: record.id });
    expect(record.caller).toMatch(/\(identity-gateway\)$/);
  });

  it("never passes the user's token, nor its own agent token, upstream or into its logs", () => {
    expect(received.length).toBeGreaterThan(0);
    for (const r of received) {
      const seen = JSON.stringify(r.headers) + r.body;
      expect(seen).not.toContain(userToken);
      expect(seen).not.toContain(agentToken);
      expect(r.headers.authorization).toBeUndefined();
    }
    expect(gatewayLog).toContain('"tools/call"');
    expect(gatewayLog).not.toContain(userToken);
    expect(gatewayLog).not.toContain(agentToken);
  });

  it("the upstream refuses a call whose arguments were changed after Verdict allowed it", async () => {
    const client = await connect(gatewayUrl, userToken);
    tamper = (body) => {
      if (body.method === "tools/call" && body.params?.arguments) body.params.arguments.message = "rm -rf /";
    };
    try {
      const e = await denial(client.callTool({ name: "echo", arguments: { message: "harmless" } }));
      expect(e.data).toMatchObject({ credentialFailure: "wrong-arguments", decisionId: null });
    } finally {
      tamper = undefined;
    }
    expect((await latestDecision()).decision).toBe("allow");
    expect(handled).toHaveLength(1);
  });

  it("the upstream refuses a call that did not come through the gateway (no credential)", async () => {
    const direct = await connect(upstream.url);
    const e = await denial(direct.callTool({ name: "echo", arguments: { message: "sneaky" }, _meta: { [META_CREDENTIAL]: "not-a-jwt" } }));
    expect(e.data).toMatchObject({ credentialFailure: "invalid" });
    const missing = await denial(direct.callTool({ name: "echo", arguments: { message: "sneaky" } }));
    expect(missing.data).toMatchObject({ credentialFailure: "missing" });
    expect(handled).toHaveLength(1);
  });

  it("an expired user token is a recorded deny naming the cause, and the call never reaches the upstream", async () => {
    const expired = await users.sign({ sub: "u-bob", preferred_username: "bob", aud: "verdict", exp: Math.floor(Date.now() / 1000) - 120 });
    const client = await connect(gatewayUrl, expired);
    const calls = () => received.filter((r) => r.body.includes('"tools/call"')).length;
    const before = calls();
    const e = await denial(client.callTool({ name: "echo", arguments: { message: "late" } }));
    expect(e.data).toMatchObject({ reasons: ["verdict:user-token-expired"] });
    expect(calls()).toBe(before);
    const record = await latestDecision();
    expect(record).toMatchObject({ decision: "deny", reasons: ["verdict:user-token-expired"], credentialJti: null });
    expect(record.identity?.user).toMatchObject({ verified: false });
  });
});
