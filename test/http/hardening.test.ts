/**
 * Issue 11, items 4 and 10: the HTTP layer's answers to a client that sends too much, a forged
 * `Host`, no key, a frame, bytes that are not UTF-8, or a trace id of another format. Real HTTP
 * (Node's `fetch`, undici, with its keep-alive connection pool) where the connection matters;
 * the in-process app elsewhere.
 */
import { request as httpRequest } from "node:http";
import { decodeJwt } from "jose";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { REQUEST_ID_MAX } from "../../src/contract/limits.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { createTestApp, EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, TEST_ADMIN_KEY, TEST_ISSUER, type TestApp } from "../helpers/app.js";
import { createPostgresDatabase, usingPostgres } from "../helpers/db.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

const ALLOWED = { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" } };
const JSON_HEADERS = { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_KEY}` };

/** A tools/call body of about `bytes` bytes (over the 1 MiB limit when `bytes` is). */
const oversized = (bytes: number) => JSON.stringify({ ...ALLOWED, arguments: { path: "/srv/a", pad: "x".repeat(bytes) } });

/** The same bytes as a stream in 64 KiB chunks: sent chunked, without Content-Length. */
function chunked(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(offset, (offset += 64 * 1024)));
    },
  });
}

/** What went wrong with a request, or null when it got `status`. */
async function failure(send: () => Promise<Response>, status: number): Promise<string | null> {
  try {
    const res = await send();
    await res.arrayBuffer();
    return res.status === status ? null : `HTTP ${res.status}`;
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? (e as Error).message;
  }
}

describe("defect 4: a 413 breaks the next request on the connection", () => {
  let verdict: TestVerdict;
  beforeAll(async () => {
    verdict = await startTestVerdict();
  });
  afterAll(async () => {
    await verdict?.dispose();
  });

  const call = (body: BodyInit, extra: RequestInit = {}) =>
    fetch(`${verdict.url}/v1/mcp/tools/call`, { method: "POST", headers: JSON_HEADERS, body, ...extra } as RequestInit);

  /** 20 rounds of an oversized request then a normal one, on Node's fetch (one keep-alive pool). */
  async function rounds(makeBody: () => BodyInit, extra: RequestInit = {}, n = 20): Promise<{ failed: string[]; connection: Set<string | null> }> {
    const failed: string[] = [];
    const connection = new Set<string | null>();
    for (let i = 0; i < n; i++) {
      const big = await failure(async () => {
        const res = await call(makeBody(), extra);
        connection.add(res.headers.get("connection"));
        return res;
      }, 413);
      if (big) failed.push(`round ${i} oversized: ${big}`);
      const next = await failure(() => call(JSON.stringify(ALLOWED)), 200);
      if (next) failed.push(`round ${i} next request: ${next}`);
    }
    return { failed, connection };
  }

  it("requests failing after a 1.2 MB body with Content-Length: 0 of 20", { timeout: 180_000 }, async () => {
    const body = oversized(1_200_000);
    const { failed, connection } = await rounds(() => body);
    expect(failed).toEqual([]);
    // The body was read to its end, so the connection stays open for the next request.
    expect([...connection]).toEqual(["keep-alive"]);
  });

  it("requests failing after a chunked 1.2 MB body (no Content-Length): 0 of 20", { timeout: 180_000 }, async () => {
    const body = oversized(1_200_000);
    const { failed, connection } = await rounds(() => chunked(body), { duplex: "half" } as RequestInit);
    expect(failed).toEqual([]);
    expect([...connection]).toEqual(["keep-alive"]);
  });

  it("a chunked body within the limit is decided as one with Content-Length", async () => {
    const body = JSON.stringify({ agent: "code-assistant", server: "everything", tool: "echo", arguments: { message: "x".repeat(1024 * 1024 - 200) } });
    const [streamed, whole] = [await call(chunked(body), { duplex: "half" } as RequestInit), await call(body)];
    expect([streamed.status, whole.status]).toEqual([200, 200]);
    const [a, b] = [await streamed.json(), await whole.json()];
    expect(a.decision).toMatch(/^(allow|deny)$/);
    expect({ decision: a.decision, reasons: a.reasons }).toEqual({ decision: b.decision, reasons: b.reasons });
  });

  it("a body beyond the 16 MiB read-and-discard bound gets its 413 with Connection: close, and the next request works", { timeout: 180_000 }, async () => {
    const body = oversized(17 * 1024 * 1024);
    for (const [what, make, extra] of [
      ["Content-Length", () => body, {}],
      ["chunked", () => chunked(body), { duplex: "half" }],
    ] as const) {
      const { failed, connection } = await rounds(make, extra as RequestInit, 3);
      expect(failed, what).toEqual([]);
      expect([...connection], what).toEqual(["close"]);
    }
  });
});

describe("defect 10: smaller leaks and surprises", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  describe("/.well-known/authzen-configuration names the configured public URL, never the Host header", () => {
    it("in-process: a forged Host does not appear", async () => {
      const res = await t.app.request("http://evil.example/.well-known/authzen-configuration", { headers: { host: "evil.example" } });
      const text = await res.text();
      expect(text).not.toContain("evil.example");
      expect(JSON.parse(text)).toEqual({
        policy_decision_point: TEST_ISSUER,
        access_evaluation_endpoint: `${TEST_ISSUER}/access/v1/evaluation`,
        access_evaluations_endpoint: `${TEST_ISSUER}/access/v1/evaluations`,
      });
    });

    it("VERDICT_PUBLIC_URL is an http(s) URL without query, fragment or credentials; a trailing slash is dropped", () => {
      expect(loadConfig({ VERDICT_PUBLIC_URL: "https://pdp.example/verdict/" }).publicUrl).toBe("https://pdp.example/verdict");
      expect(loadConfig({}).publicUrl).toBeUndefined();
      for (const bad of ["ftp://pdp.example", "pdp.example", "https://pdp.example/?a=1", "https://pdp.example/#x", "https://u:p@pdp.example"]) {
        expect(() => loadConfig({ VERDICT_PUBLIC_URL: bad }), bad).toThrow(ConfigError);
        expect(() => loadConfig({ VERDICT_PUBLIC_URL: bad }), bad).toThrow(/VERDICT_PUBLIC_URL/);
      }
    });

    describe("over real HTTP", () => {
      let server: RunningServer;
      let derived: RunningServer;
      let drops: (() => Promise<void>)[] = [];
      const start = async (env: Record<string, string>) => {
        let databaseUrl: string | undefined;
        if (usingPostgres) {
          const pg = await createPostgresDatabase();
          databaseUrl = pg.url;
          drops.push(pg.drop);
        }
        const config = loadConfig({
          PORT: "0",
          DATABASE_URL: databaseUrl,
          VERDICT_DATA_DIR: "memory://",
          VERDICT_POLICY_DIR: EXAMPLE_POLICY_DIR,
          VERDICT_SCHEMA_DIR: EXAMPLE_SCHEMA_DIR,
          VERDICT_ADMIN_KEY: TEST_ADMIN_KEY,
          VERDICT_LOG_LEVEL: "silent",
          ...env,
        });
        return startServer(config, pino({ level: "silent" }));
      };
      beforeAll(async () => {
        server = await start({ VERDICT_PUBLIC_URL: "https://pdp.example/" });
        derived = await start({});
      });
      afterAll(async () => {
        await server?.stop();
        await derived?.stop();
        for (const drop of drops) await drop();
        drops = [];
      });

      /** GET with a raw Host header (fetch may not let a caller choose it). */
      const getWithHost = (url: string, host: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = httpRequest(url, { headers: { host } }, (res) => {
            let body = "";
            res.setEncoding("utf8").on("data", (d: string) => (body += d));
            res.on("end", () => resolve({ status: res.statusCode!, body }));
          });
          req.on("error", reject).end();
        });

      it("a forged Host does not appear; the configured URL does", async () => {
        const res = await getWithHost(`${server.url}/.well-known/authzen-configuration`, "evil.example:666");
        expect(res.status).toBe(200);
        expect(res.body).not.toContain("evil");
        expect(JSON.parse(res.body)).toEqual({
          policy_decision_point: "https://pdp.example",
          access_evaluation_endpoint: "https://pdp.example/access/v1/evaluation",
          access_evaluations_endpoint: "https://pdp.example/access/v1/evaluations",
        });
      });

      it("unset, it is the listening address (HOST and the bound port), whatever the Host header says", async () => {
        const res = await getWithHost(`${derived.url}/.well-known/authzen-configuration`, "evil.example");
        expect(res.body).not.toContain("evil");
        expect(JSON.parse(res.body).policy_decision_point).toBe(derived.url);
        expect(derived.url).toBe(`http://127.0.0.1:${derived.port}`);
      });

      it("the minted credentials' iss defaults to the same public URL (VERDICT_ISSUER unset)", async () => {
        const res = await fetch(`${server.url}/v1/mcp/tools/call`, { method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ ...ALLOWED, credential: true }) });
        const body = await res.json();
        expect(body.decision).toBe("allow");
        expect(decodeJwt(body.credential.token).iss).toBe("https://pdp.example");
      });
    });
  });

  describe("/readyz shows only its status without a valid key", () => {
    it("no key, or an unknown one: {status} alone; a valid key of any role: the details", async () => {
      for (const key of [null, "not-a-key-at-all-0123456789"]) {
        const res = await t.request("/readyz", { key });
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ status: "ready" });
      }
      for (const role of ["admin", "pep", "auditor", "policy-admin"] as const) {
        const res = await t.request("/readyz", { key: t.keys[role] });
        expect(res.status).toBe(200);
        const body = await res.json();
        expect(body).toMatchObject({ status: "ready", policySetVersion: t.policies.get().version, database: { status: "ok" } });
        expect(body.decisionLog.stream).toBe(t.log.streamId);
      }
    });

    it("a revoked key sees the status alone", async () => {
      const created = await t.apiKeys.create({ name: "revoked-readyz", role: "auditor" });
      await t.apiKeys.revoke(created.info.id);
      const res = await t.request("/readyz", { key: created.key });
      expect(await res.json()).toEqual({ status: "ready" });
    });
  });

  describe("secure headers", () => {
    it("the explorer (/ui) may not be framed or sniffed, under a CSP without inline scripts", async () => {
      for (const path of ["/ui/", "/ui/app.js", "/ui/style.css"]) {
        const res = await t.request(path, { key: null });
        expect(res.status, path).toBe(200);
        const csp = res.headers.get("content-security-policy") ?? "";
        expect(csp, path).toContain("frame-ancestors 'none'");
        expect(csp, path).toMatch(/script-src 'self'(;|$)/);
        expect(res.headers.get("x-frame-options"), path).toBe("DENY");
        expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
      }
    });

    it("API answers, errors included, carry nosniff, no framing and a CSP that loads nothing", async () => {
      const answers = [
        await t.request("/v1/mcp/tools/call", { body: ALLOWED }),
        await t.request("/v1/mcp/tools/call", { body: "{" }),
        await t.request("/v1/decisions", { key: null }),
        await t.request("/v1/nothing-here"),
        await t.request("/v1/mcp/tools/call", { body: oversized(1_100_000) }),
        await t.request("/readyz", { key: null }),
        await t.request("/.well-known/jwks.json", { key: null }),
      ];
      expect(answers.map((r) => r.status)).toEqual([200, 400, 401, 404, 413, 200, 200]);
      for (const res of answers) {
        expect(res.headers.get("x-content-type-options")).toBe("nosniff");
        expect(res.headers.get("x-frame-options")).toBe("DENY");
        expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
        expect(res.headers.get("strict-transport-security")).toBeNull();
      }
    });
  });

  describe("a body that is not valid UTF-8 is refused, not decided", () => {
    const raw = (bytes: Uint8Array<ArrayBuffer>) =>
      t.app.request("/v1/mcp/tools/call", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${t.keys.admin}` }, body: bytes });
    const withBytes = (...bytes: number[]) => {
      const [head, tail] = JSON.stringify({ ...ALLOWED, arguments: { path: "/srv/runbooks/@@" } }).split("@@") as [string, string];
      return new Uint8Array([...Buffer.from(head), ...bytes, ...Buffer.from(tail)]);
    };

    it.each([
      ["a stray continuation byte", [0x80]],
      ["an invalid byte", [0xff]],
      ["a truncated sequence", [0xe2, 0x82]],
      ["an overlong encoding of '/'", [0xc0, 0xaf]],
      ["an encoded UTF-16 surrogate (CESU-8)", [0xed, 0xa0, 0x80]],
      ["a code point beyond U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ])("%s: 400 bad_request, nothing recorded", async (_what, bytes) => {
      const before = t.log.stats.recorded;
      const res = await raw(withBytes(...bytes));
      expect(res.status).toBe(400);
      const body = await res.json();
      expect(body.error.code).toBe("bad_request");
      expect(body.error.message).toMatch(/not valid UTF-8/);
      expect(t.log.stats.recorded).toBe(before);
    });

    it("valid multi-byte UTF-8 is decided as before", async () => {
      const res = await raw(withBytes(...Buffer.from("é€😀")));
      expect(res.status).toBe(200);
      expect((await res.json()).decision).toBe("allow");
    });
  });

  describe("X-Request-ID: printable ASCII up to the documented length is kept; anything else is a 400", () => {
    const AWS = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    const W3C = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const PRINTABLE = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join("");

    it.each([
      ["an AWS X-Amzn-Trace-Id", AWS],
      ["a W3C traceparent", W3C],
      ["a dotted id", "gw.eu-west-1.0001"],
      ["every printable ASCII character", PRINTABLE],
      [`${REQUEST_ID_MAX} characters`, "r".repeat(REQUEST_ID_MAX)],
    ])("%s is echoed and recorded as sent", async (_what, id) => {
      const res = await t.request("/v1/mcp/tools/call", { body: ALLOWED, headers: { "x-request-id": id } });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-request-id")).toBe(id);
      const recorded = await (await t.request(`/v1/decisions/${(await res.json()).decisionId}`)).json();
      expect(recorded.requestId).toBe(id);
    });

    it.each([
      [`${REQUEST_ID_MAX + 1} characters`, "r".repeat(REQUEST_ID_MAX + 1)],
      ["a space", "gw 0001"],
      ["a non-ASCII character", "gw-é"],
      ["a tab", "gw\t0001"],
    ])("%s: 400 naming the header, with a fresh id, nothing recorded", async (_what, id) => {
      const before = t.log.stats.recorded;
      const res = await t.request("/v1/mcp/tools/call", { body: ALLOWED, headers: { "x-request-id": id } });
      expect(res.status).toBe(400);
      const body = await res.json();
      expect(body.error.code).toBe("bad_request");
      expect(body.error.message).toContain("X-Request-ID");
      expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(t.log.stats.recorded).toBe(before);
    });
  });
});
