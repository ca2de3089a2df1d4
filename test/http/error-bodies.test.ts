/**
 * Defect 3 (issue 11): when a decision cannot be recorded, the 503 carried drizzle's
 * "Failed query: INSERT INTO "decisions" ... params: ..." with the batch's records (arguments,
 * users, key names, chain hashes, other callers' too), and `verdict-mcp` passed it to the MCP
 * client verbatim. Every 5xx body and every JSON-RPC error must hold a stable code and a short
 * sentence only. Provoked two ways: the database up but refusing decision rows (both drivers,
 * many callers in one batch), and the database gone (a private Postgres cluster, stopped); through
 * Verdict's HTTP API, the SDK and the `verdict-mcp` gateway. Every other error body the suite
 * provokes is scanned by the shared helpers (test/helpers/error-bodies.ts).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VerdictClient } from "../../packages/sdk/src/client.js";
import { TEST_ADMIN_KEY } from "../helpers/app.js";
import { leaksIn } from "../helpers/error-bodies.js";
import { FILESYSTEM_SERVER, GATEWAY_BIN } from "../helpers/mcp.js";
import { startPrivatePostgres, type PrivatePostgres } from "../helpers/private-postgres.js";
import { refuseDecisionInserts } from "../helpers/refuse-decisions.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

const canary = `canary-${randomBytes(6).toString("hex")}`;
const session = { requestTime: 1_772_445_600, hourUtc: 10, weekdayUtc: 1 };

/** Every decision endpoint, with the canary in what is recorded (arguments, task). */
function decisionRequests(i: number): Array<[string, unknown]> {
  const path = `/srv/runbooks/${canary}-${i}.md`;
  const task = { id: `${canary}-task-${i}`, kind: "incident" };
  const authorize = {
    principal: { type: "Mcp::Agent", id: "incident-bot" },
    action: { type: "Mcp::Action", id: "filesystem/read_file" },
    resource: { type: "Mcp::Server", id: "filesystem" },
    context: { input: { path }, session: { ...session, user: { __entity: { type: "Mcp::User", id: "alice" } }, task } },
  };
  const mcp = {
    subject: { type: "agent", id: "incident-bot" },
    action: { name: "tools/call" },
    resource: { type: "tool", id: "filesystem/read_file", properties: { arguments: { path } } },
    context: { user: "alice", task },
  };
  return [
    ["/v1/mcp/tools/call", { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path }, task }],
    ["/v1/mcp/tools/call", { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path }, task, credential: true }],
    ["/v1/authorize", authorize],
    ["/v1/authorize/batch", { requests: [authorize, authorize] }],
    ["/access/v1/evaluation", mcp],
    ["/access/v1/evaluations", { evaluations: [mcp, mcp] }],
  ];
}

interface Seen {
  where: string;
  status: number;
  text: string;
}

/** What a body must not hold: the shared leak patterns, the canary, a chain hash or digest, a caller. */
function recordDataIn(text: string, keyNames: string[]): string[] {
  const found = leaksIn(text);
  if (text.includes(canary)) found.push("the request's recorded values");
  if (/\b[0-9a-f]{64}\b/.test(text)) found.push("a hash (chain hash or arguments digest)");
  if (/apikey:/.test(text) || keyNames.some((k) => text.includes(k))) found.push("a caller's key");
  if (/alice|incident-bot/.test(text)) found.push("a recorded party");
  return found;
}

function report(label: string, seen: Seen[], keyNames: string[]): Seen[] {
  const bad = seen.filter((s) => recordDataIn(s.text, keyNames).length);
  console.log(`${label}: 5xx bodies containing SQL or record fields: ${bad.length} of ${seen.length}`);
  return bad.map((s) => ({ ...s, text: `${recordDataIn(s.text, keyNames).join(", ")}: ${s.text.slice(0, 300)}` }));
}

/** The official MCP client → `verdict-mcp` (spawned, stdio) → Verdict → server-filesystem. */
async function gatewayClient(verdictUrl: string, apiKey: string): Promise<{ client: Client; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "verdict-error-bodies-"));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [GATEWAY_BIN, "--server", "filesystem", "--agent", "incident-bot", "--user", "alice", "--verdict-url", verdictUrl, "--timeout", "30000", "--log-level", "silent", "--", process.execPath, FILESYSTEM_SERVER, dir],
    env: { PATH: process.env.PATH ?? "", VERDICT_API_KEY: apiKey },
    stderr: "ignore",
  });
  const client = new Client({ name: "error-bodies-agent", version: "1.0.0" });
  await client.connect(transport);
  return {
    client,
    close: async () => {
      await client.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A tool call through the gateway; the JSON-RPC error it is answered with, as text. */
async function gatewayError(client: Client, i: number): Promise<Seen> {
  const e = await client.callTool({ name: "read_file", arguments: { path: `/srv/runbooks/${canary}-${i}.md` }, _meta: { "verdict/task": `${canary}-task-${i}` } }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(McpError);
  const { code, message, data } = e as McpError;
  expect(code).toBe(-32001);
  return { where: "verdict-mcp tools/call", status: 503, text: JSON.stringify({ code, message, data }) };
}

describe("defect 3: a 503 body carries the SQL and the batch's records (the database refuses decision rows)", () => {
  let v: TestVerdict;
  let restore: (() => Promise<void>) | undefined;
  const keys: Array<{ name: string; key: string }> = [];
  beforeAll(async () => {
    v = await startTestVerdict();
    for (const n of [1, 2]) {
      const name = `${canary}-key-${n}`;
      keys.push({ name, key: (await v.server.apiKeys.create({ name, role: "pep" })).key });
    }
    restore = await refuseDecisionInserts(v.server.database.db);
  });
  afterAll(async () => {
    await restore?.();
    await v?.dispose();
  });

  it("answers every decision endpoint 503 with a code and a sentence, for every caller of the batch, through HTTP, the SDK and the gateway", async () => {
    const seen: Seen[] = [];
    // Two callers at once, so each batch mixes their records.
    const jobs = keys.flatMap(({ key }, k) =>
      Array.from({ length: 5 }, (_, i) => decisionRequests(k * 10 + i)).flat().map(async ([path, body]) => {
        const res = await fetch(`${v.url}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
          body: JSON.stringify(body),
        });
        const text = await res.text();
        seen.push({ where: `POST ${path}`, status: res.status, text });
      }),
    );
    await Promise.all(jobs);
    const odd = seen.filter((x) => x.status !== 503 || JSON.stringify(Object.keys(JSON.parse(x.text).error ?? {})) !== '["code","message"]');
    expect(odd.map((x) => `${x.where}: ${x.status} ${x.text.slice(0, 300)}`)).toEqual([]);

    // The SDK's deny carries its own sentence, and the cause's code.
    const sdk = new VerdictClient({ baseUrl: v.url, apiKey: keys[0]!.key, timeout: 30_000 });
    const d = await sdk.callTool({ agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: `/srv/${canary}` } });
    seen.push({ where: "SDK callTool", status: 503, text: JSON.stringify(d) });

    const gw = await gatewayClient(v.url, keys[1]!.key);
    try {
      for (let i = 0; i < 3; i++) seen.push(await gatewayError(gw.client, 100 + i));
    } finally {
      await gw.close();
    }
    expect(seen.length).toBe(2 * 5 * 6 + 1 + 3);
    expect(report("database refusing rows", seen, keys.map((k) => k.name))).toEqual([]);
    expect(d).toMatchObject({ decision: "deny", decisionId: null, cause: { kind: "http", status: 503, code: "unavailable" } });
  }, 120_000);
});

describe("defect 3: a 503 body carries the SQL and the batch's records (the database is gone)", () => {
  let cluster: PrivatePostgres;
  let v: TestVerdict;
  let decisionId: string;
  beforeAll(async () => {
    cluster = await startPrivatePostgres();
    v = await startTestVerdict({ databaseUrl: cluster.url });
    const res = await fetch(`${v.url}/v1/mcp/tools/call`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_KEY}` },
      body: JSON.stringify({ agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: `/srv/runbooks/${canary}.md` } }),
    });
    expect(res.status).toBe(200);
    decisionId = (await res.json()).decisionId;
    await cluster.stop("immediate");
  }, 120_000);
  afterAll(async () => {
    await v?.stop();
    await cluster?.destroy();
  });

  it("answers 5xx with a code and a sentence on every route that needs the database, and the gateway passes on none of the database's text", async () => {
    const seen: Seen[] = [];
    const requests: Array<[string, unknown?]> = [
      ...decisionRequests(0),
      ["/v1/mcp/tools/list", { agent: "incident-bot", server: "filesystem", tools: [{ name: "read_file" }] }],
      ["/v1/decisions?agent=incident-bot"],
      [`/v1/decisions/${decisionId}`],
      ["/v1/decisions/stats"],
      ["/v1/audit/verify"],
      ["/v1/policy-sets"],
      ["/v1/keys"],
    ];
    for (const [path, body] of requests) {
      const res = await fetch(`${v.url}${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_KEY}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      expect(res.status, `${path}: ${text.slice(0, 200)}`).toBeGreaterThanOrEqual(500);
      const parsed = JSON.parse(text) as { error: { code: string; message: string; details?: unknown } };
      expect(Object.keys(parsed)).toEqual(["error"]);
      expect(parsed.error.details).toBeUndefined();
      seen.push({ where: `${body === undefined ? "GET" : "POST"} ${path}`, status: res.status, text });
    }
    const gw = await gatewayClient(v.url, TEST_ADMIN_KEY);
    try {
      seen.push(await gatewayError(gw.client, 200));
    } finally {
      await gw.close();
    }
    expect(report("database gone", seen, [])).toEqual([]);
  }, 120_000);
});
