/**
 * The access log (docs/observability.md "Access log"): one pino line per request, with the
 * method, the path without its query, the status, the duration, the request id, the caller's key
 * id and the decision ids; never an argument value, a body, an API key or a token, in that line
 * or in any other line the server writes.
 */
import { randomUUID } from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, TEST_ADMIN_KEY, type TestApp } from "../helpers/app.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

/** A pino logger at `trace` whose every line (parsed, and as written) is kept. */
function capturing(): { logger: pino.Logger; lines: Array<Record<string, unknown>>; raw: string[] } {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const logger = pino({ level: "trace" }, {
    write: (line: string) => {
      raw.push(line);
      lines.push(JSON.parse(line));
    },
  });
  return { logger, lines, raw };
}

const accessLines = (lines: Array<Record<string, unknown>>) => lines.filter((l) => l.msg === "request");

/** A JWT-shaped token nobody signed: refused (a recorded deny), and never to be logged. */
const fakeToken = (marker: string) =>
  `${Buffer.from(JSON.stringify({ alg: "ES256", kid: "k" })).toString("base64url")}.${Buffer.from(JSON.stringify({ sub: marker, iss: "https://x" })).toString("base64url")}.c2ln`;

describe("access log of the in-process app", () => {
  let t: TestApp;
  const log = capturing();
  beforeAll(async () => {
    t = await createTestApp({ logger: log.logger });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  });

  it("writes one line per request with the method, path, status, duration, request id, key id and decision id", async () => {
    const adminId = (await t.apiKeys.authenticate(t.keys.admin))!.id;
    const pepId = (await t.apiKeys.authenticate(t.keys.pep))!.id;
    log.lines.length = 0;

    const call = await t.request("/v1/mcp/tools/call", {
      key: t.keys.pep,
      headers: { "x-request-id": "req-access-1" },
      body: { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/a.md" } },
    });
    const decisionId = (await call.json()).decisionId as string;
    const batch = await t.request("/v1/authorize/batch", {
      key: t.keys.pep,
      body: {
        requests: [0, 1].map(() => ({
          principal: { type: "Mcp::Agent", id: "incident-bot" },
          action: { type: "Mcp::Action", id: "filesystem/read_file" },
          resource: { type: "Mcp::Server", id: "filesystem" },
          context: { input: { path: "/srv/runbooks/x.md" } },
        })),
      },
    });
    const batchIds = (await batch.json()).results.map((r: { decisionId: string }) => r.decisionId);
    const query = await t.request("/v1/decisions?agent=incident-bot&arg.path=secret-in-query", { key: t.keys.admin });
    const anonymous = await t.request("/v1/decisions", { key: null });
    const missing = await t.request("/no/such/route", { key: t.keys.admin });
    const health = await t.request("/healthz", { key: null });
    const statuses = [call.status, batch.status, query.status, anonymous.status, missing.status, health.status];
    expect(statuses).toEqual([200, 200, 200, 401, 404, 200]);

    const lines = accessLines(log.lines);
    expect(lines.map(({ level, method, path, status, keyId, decisionId, decisionIds }) => ({ level, method, path, status, keyId, decisionId, decisionIds }))).toEqual([
      { level: 30, method: "POST", path: "/v1/mcp/tools/call", status: 200, keyId: pepId, decisionId, decisionIds: undefined },
      { level: 30, method: "POST", path: "/v1/authorize/batch", status: 200, keyId: pepId, decisionId: undefined, decisionIds: batchIds },
      { level: 30, method: "GET", path: "/v1/decisions", status: 200, keyId: adminId, decisionId: undefined, decisionIds: undefined },
      { level: 30, method: "GET", path: "/v1/decisions", status: 401, keyId: undefined, decisionId: undefined, decisionIds: undefined },
      { level: 30, method: "GET", path: "/no/such/route", status: 404, keyId: adminId, decisionId: undefined, decisionIds: undefined },
      { level: 30, method: "GET", path: "/healthz", status: 200, keyId: undefined, decisionId: undefined, decisionIds: undefined },
    ]);
    expect(lines[0]!.requestId).toBe("req-access-1");
    expect(lines.map((l) => l.requestId)).toEqual([call, batch, query, anonymous, missing, health].map((r) => r.headers.get("x-request-id")));
    for (const l of lines) expect(l.durationMs).toEqual(expect.any(Number));
    expect(lines.every((l) => (l.durationMs as number) >= 0)).toBe(true);
    // The query string never reaches the line.
    expect(log.raw.join("").includes("secret-in-query")).toBe(false);
  });

  it("never logs an argument value, an API key or a token, on any line", async () => {
    const secret = `secret-argument-${randomUUID()}`;
    const tokenMarker = `token-subject-${randomUUID()}`;
    const token = fakeToken(tokenMarker);
    log.lines.length = 0;
    log.raw.length = 0;
    const sends = [
      t.request("/v1/mcp/tools/call", {
        key: t.keys.pep,
        headers: { "X-Verdict-Agent-Token": token },
        body: { server: "filesystem", tool: "read_file", arguments: { path: `/srv/runbooks/${secret}` } },
      }),
      t.request("/v1/mcp/tools/call", { key: t.keys.pep, body: { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: secret }, agentToken: token } }),
      // Refused bodies too: a 400 (schema) and a bad key.
      t.request("/v1/mcp/tools/call", { key: t.keys.pep, body: { agent: "incident-bot", server: "filesystem", tool: 7, arguments: { path: secret } } }),
      t.request("/v1/mcp/tools/call", { key: `${secret}-as-a-key`, body: { arguments: { path: secret } } }),
    ];
    const statuses = await Promise.all(sends.map(async (p) => (await p).status));
    expect(statuses).toEqual([200, 200, 400, 401]);
    expect(accessLines(log.lines)).toHaveLength(4);
    const all = log.raw.join("");
    for (const forbidden of [secret, token, tokenMarker, t.keys.pep, t.keys.admin]) expect(all.includes(forbidden), forbidden).toBe(false);
    expect(all).not.toMatch(/authorization|bearer/i);
  });
});

describe("VERDICT_ACCESS_LOG levels", () => {
  it("writes at debug, or not at all when off", async () => {
    for (const [accessLog, want] of [
      ["debug", [20]],
      ["off", []],
    ] as const) {
      const log = capturing();
      const t = await createTestApp({ logger: log.logger, accessLog });
      try {
        expect((await t.request("/healthz", { key: null })).status).toBe(200);
        expect(accessLines(log.lines).map((l) => l.level)).toEqual(want);
      } finally {
        await t.close();
      }
    }
  }, 120_000);
});

describe("access log of a real server", () => {
  let v: TestVerdict;
  const log = capturing();
  beforeAll(async () => {
    v = await startTestVerdict({ logger: log.logger });
  }, 120_000);
  afterAll(async () => {
    await v?.dispose();
  });

  it("one line per HTTP request, and no argument value or bearer key in any line it writes, start to stop", async () => {
    const secret = `secret-argument-${randomUUID()}`;
    const before = accessLines(log.lines).length;
    const send = (body: unknown) =>
      fetch(`${v.url}/v1/mcp/tools/call`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const answers = await Promise.all([0, 1, 2].map((i) => send({ agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: `/srv/runbooks/${secret}-${i}` } })));
    const ids = await Promise.all(answers.map(async (a) => (await a.json()).decisionId as string));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    await v.stop();
    const lines = accessLines(log.lines).slice(before);
    expect(lines.map((l) => l.decisionId).sort()).toEqual([...ids].sort());
    expect(new Set(lines.map((l) => `${l.method} ${l.path} ${l.status}`))).toEqual(new Set(["POST /v1/mcp/tools/call 200"]));
    const all = log.raw.join("");
    expect(all.includes(secret)).toBe(false);
    expect(all.includes(TEST_ADMIN_KEY)).toBe(false);
    // The server did log (start, listening, stop): the capture saw its lines.
    expect(log.lines.map((l) => l.msg)).toContain("verdict listening");
  }, 60_000);
});
