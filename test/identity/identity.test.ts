/**
 * Verified identities with real JWTs: an agent issuer whose JWKS is served over local HTTP
 * (SPIFFE-style subjects), a user issuer whose JWKS is a file (OIDC-style, with groups and
 * RFC 8693 `act` delegation). Every refused token is a recorded deny that names the cause.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, type IssuerConfig } from "../../src/config.js";
import { recordHash } from "../../src/decision-log/record.js";
import { createTestApp, EXAMPLE_SCHEMA_DIR, type TestApp } from "../helpers/app.js";
import { createTestIssuer, type TestIssuer } from "../helpers/issuer.js";

const SPIFFE = "spiffe://acme.test/agent/";
let dir: string;
let agents: TestIssuer;
let users: TestIssuer;
let issuers: IssuerConfig[];
let t: TestApp;
let strict: TestApp;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "verdict-identity-"));
  agents = await createTestIssuer("https://agents.acme.test", "http");
  users = await createTestIssuer("https://idp.acme.test", { file: join(dir, "idp-jwks.json") }, "RS256");
  issuers = [
    { issuer: agents.issuer, jwksUrl: agents.jwksUrl, audience: "verdict", kind: "agent", idClaim: "sub", idPrefix: SPIFFE, groupsClaim: "groups", clockToleranceSeconds: 0 },
    { issuer: users.issuer, jwksFile: join(dir, "idp-jwks.json"), audience: ["verdict", "other"], kind: "user", idClaim: "preferred_username", groupsClaim: "groups", clockToleranceSeconds: 0 },
    // An issuer whose JWKS cannot be fetched (nothing listens on port 1): its tokens must be refused.
    { issuer: "https://down.acme.test", jwksUrl: "http://127.0.0.1:1/jwks.json", audience: "verdict", kind: "agent", idClaim: "sub", clockToleranceSeconds: 0 },
  ];
  t = await createTestApp({ issuers });
  strict = await createTestApp({ issuers, requireVerified: "both" });
});
afterAll(async () => {
  await Promise.all([t?.close(), strict?.close(), agents?.close(), users?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const agentToken = (name: string, extra: Record<string, unknown> = {}) => agents.sign({ sub: `${SPIFFE}${name}`, aud: "verdict", ...extra });
const userToken = (username: string, extra: Record<string, unknown> = {}) =>
  users.sign({ sub: `u-${username}`, preferred_username: username, aud: "verdict", ...extra });

const read = { server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" } };

async function call(app: TestApp, body: Record<string, unknown>, headers?: Record<string, string>) {
  const res = await app.request("/v1/mcp/tools/call", { body, headers, key: app.keys.pep });
  expect(res.status).toBe(200);
  const answer = await res.json();
  const record = await (await app.request(`/v1/decisions/${answer.decisionId}`)).json();
  return { answer, record };
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

describe("verified agent and user", () => {
  it("records both verified identities and the delegation chain, outermost actor first", async () => {
    const aTok = await agentToken("incident-bot");
    const uTok = await userToken("alice", { act: { sub: `${SPIFFE}incident-bot`, act: { sub: "orchestrator", iss: "https://orchestrator.test" } } });
    const { answer, record } = await call(t, { ...read, agentToken: aTok, userToken: uTok, task: { id: "INC-7", kind: "incident" } });
    expect(answer).toMatchObject({ decision: "allow", reasons: ["allow-file-reads"] });
    expect(record).toMatchObject({
      agent: "incident-bot",
      user: "alice",
      delegation: [{ sub: `${SPIFFE}incident-bot` }, { sub: "orchestrator", iss: "https://orchestrator.test" }],
      identity: {
        agent: { id: "incident-bot", verified: true, issuer: agents.issuer, subject: `${SPIFFE}incident-bot`, tokenSha256: sha256(aTok) },
        user: { id: "alice", verified: true, issuer: users.issuer, subject: "alice", tokenSha256: sha256(uTok) },
      },
    });
    expect(record.request.context.session.verified).toEqual({ agent: true, user: true });
    const { hash, ...unhashed } = record;
    expect(recordHash(unhashed), "the stored hash is the hash of the record as read back").toBe(hash);
    // Agreeing with recordHash says nothing about coverage; changing a field must change the hash.
    expect(recordHash({ ...unhashed, delegation: unhashed.delegation.slice(1) }), "the hash chain covers delegation").not.toBe(hash);
    expect(recordHash({ ...unhashed, identity: { ...unhashed.identity, user: { ...unhashed.identity.user, verified: false } } }), "the hash chain covers identity").not.toBe(hash);
  });

  it("records asserted identities as unverified", async () => {
    const { record } = await call(t, { ...read, agent: "incident-bot", user: "alice" });
    expect(record.identity).toEqual({ agent: { id: "incident-bot", verified: false }, user: { id: "alice", verified: false } });
    expect(record.delegation).toEqual([]);
    expect(record.request.context.session.verified).toEqual({ agent: false, user: false });
  });

  it("maps token groups to parents, so a verified party unknown to entities.json gets its group's grants", async () => {
    const { answer } = await call(t, { ...read, agentToken: await agentToken("new-bot", { groups: ["sre-agents"] }) });
    expect(answer).toMatchObject({ decision: "allow", reasons: ["allow-file-reads"] });
    const ungrouped = await call(t, { ...read, agentToken: await agentToken("new-bot") });
    expect(ungrouped.answer).toMatchObject({ decision: "deny", reasons: ["verdict:no-permit"] });

    const write = { server: "filesystem", tool: "write_file", arguments: { path: "/tmp/verdict-sandbox/a.txt", content: "x" }, task: { id: "T-1" } };
    const dave = await call(t, { ...write, agent: "code-assistant", userToken: await userToken("dave", { groups: ["developers"] }) });
    expect(dave.answer).toMatchObject({ decision: "allow", reasons: ["allow-sandbox-writes"] });
    expect(dave.record.identity.user).toMatchObject({ id: "dave", verified: true, groups: ["developers"] });
  });

  it("lets policies tell verified from asserted users (forbid-unverified-contractors)", async () => {
    const asserted = await call(t, { ...read, agent: "code-assistant", user: "carol" });
    expect(asserted.answer).toMatchObject({ decision: "deny", reasons: ["forbid-unverified-contractors"] });
    const verified = await call(t, { ...read, agent: "code-assistant", userToken: await userToken("carol") });
    expect(verified.answer).toMatchObject({ decision: "allow", reasons: ["allow-file-reads"] });
  });

  it("accepts the tokens as X-Verdict-Agent-Token / X-Verdict-User-Token headers", async () => {
    const { answer, record } = await call(t, read, {
      "x-verdict-agent-token": await agentToken("incident-bot"),
      "x-verdict-user-token": await userToken("alice"),
    });
    expect(answer.decision).toBe("allow");
    expect(record.identity.agent.verified && record.identity.user.verified).toBe(true);
  });

  it("answers 400 when neither an agent nor an agent token is given", async () => {
    const res = await t.request("/v1/mcp/tools/call", { body: read, key: t.keys.pep });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toContain("agent");
  });
});

describe("refused tokens: a recorded deny naming the cause", () => {
  const now = () => Math.floor(Date.now() / 1000);
  const cases: Array<[string, () => Promise<Record<string, unknown>>, string, string]> = [
    ["expired", async () => ({ agentToken: await agentToken("incident-bot", { iat: now() - 600, exp: now() - 60 }) }), "verdict:agent-token-expired", "expired"],
    ["not yet valid", async () => ({ agentToken: await agentToken("incident-bot", { nbf: now() + 600 }) }), "verdict:agent-token-not-yet-valid", "not valid yet"],
    [
      "wrong issuer",
      async () => ({ agentToken: await agents.sign({ iss: "https://evil.test", sub: `${SPIFFE}incident-bot`, aud: "verdict" }) }),
      "verdict:agent-token-unknown-issuer",
      "https://evil.test",
    ],
    ["wrong audience", async () => ({ agentToken: await agentToken("incident-bot", { aud: "someone-else" }) }), "verdict:agent-token-wrong-audience", "someone-else"],
    [
      "alg none",
      async () => {
        const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
        return { agentToken: `${b64({ alg: "none", typ: "JWT" })}.${b64({ iss: agents.issuer, sub: `${SPIFFE}incident-bot`, aud: "verdict", exp: now() + 60 })}.` };
      },
      "verdict:agent-token-unsigned",
      'alg "none"',
    ],
    [
      "tampered payload",
      async () => {
        const [h, , s] = (await agentToken("report-bot")).split(".");
        const forged = Buffer.from(JSON.stringify({ iss: agents.issuer, sub: `${SPIFFE}incident-bot`, aud: "verdict", exp: now() + 60 })).toString("base64url");
        return { agentToken: `${h}.${forged}.${s}` };
      },
      "verdict:agent-token-bad-signature",
      "signature",
    ],
    [
      "unknown key id",
      async () => {
        const { privateKey } = await generateKeyPair("ES256");
        return { agentToken: await agents.sign({ sub: `${SPIFFE}incident-bot`, aud: "verdict" }, { kid: "ghost", key: privateKey }) };
      },
      "verdict:agent-token-unknown-key",
      "kid",
    ],
    ["expired user token", async () => ({ agent: "incident-bot", userToken: await userToken("alice", { iat: now() - 600, exp: now() - 1 }) }), "verdict:user-token-expired", "user token: expired"],
    ["user token from the agent issuer", async () => ({ agent: "incident-bot", userToken: await agentToken("alice") }), "verdict:user-token-unknown-issuer", "not trusted for user tokens"],
    ["garbage", async () => ({ agentToken: "not.a.jwt" }), "verdict:agent-token-malformed", "not a valid JWT"],
    [
      "issuer keys unreachable",
      async () => ({ agentToken: await agents.sign({ iss: "https://down.acme.test", sub: "incident-bot", aud: "verdict" }) }),
      "verdict:agent-token-keys-unavailable",
      "cannot be obtained",
    ],
  ];

  for (const [name, body, reason, text] of cases) {
    it(`${name} → ${reason}`, async () => {
      const { answer, record } = await call(t, { ...read, ...(await body()) });
      expect(answer).toMatchObject({ decision: "deny", reasons: [reason] });
      expect(answer.message).toContain(text);
      expect(record).toMatchObject({ decision: "deny", reasons: [reason] });
    });
  }

  it("refuses an asserted id that contradicts the token, and a delegation to another agent", async () => {
    const mismatch = await call(t, { ...read, agent: "code-assistant", agentToken: await agentToken("incident-bot") });
    expect(mismatch.answer).toMatchObject({ decision: "deny", reasons: ["verdict:agent-mismatch"] });
    const otherActor = await call(t, { ...read, agentToken: await agentToken("incident-bot"), userToken: await userToken("alice", { act: { sub: `${SPIFFE}code-assistant` } }) });
    expect(otherActor.answer).toMatchObject({ decision: "deny", reasons: ["verdict:delegation-mismatch"] });
  });

  it("filters tools/list for a verified agent by the policies", async () => {
    const pinned = JSON.parse(readFileSync(join(EXAMPLE_SCHEMA_DIR, "servers", "filesystem.json"), "utf8")).tools;
    const res = await t.request("/v1/mcp/tools/list", { key: t.keys.pep, body: { server: "filesystem", agentToken: await agentToken("incident-bot"), tools: pinned } });
    const answer = await res.json();
    expect(answer.tools.map((x: { name: string }) => x.name)).toContain("read_file");
    expect(answer.hidden.map((x: { name: string }) => x.name)).toContain("write_file");
  });

  it("hides every tool of tools/list behind a refused token, naming the cause", async () => {
    const res = await t.request("/v1/mcp/tools/list", {
      key: t.keys.pep,
      body: { server: "filesystem", agentToken: await agentToken("incident-bot", { aud: "nope" }), tools: [{ name: "read_file", inputSchema: { type: "object" } }] },
    });
    const answer = await res.json();
    expect(answer.tools).toEqual([]);
    expect(answer.hidden[0].reason).toContain("verdict:agent-token-wrong-audience");
  });
});

describe("VERDICT_REQUIRE_VERIFIED=both", () => {
  it("denies asserted agents and users, and allows proven ones", async () => {
    expect((await call(strict, { ...read, agent: "incident-bot", user: "alice" })).answer).toMatchObject({ decision: "deny", reasons: ["verdict:unverified-agent"] });
    expect((await call(strict, { ...read, agentToken: await agentToken("incident-bot") })).answer).toMatchObject({ decision: "deny", reasons: ["verdict:unverified-user"] });
    const both = await call(strict, { ...read, agentToken: await agentToken("incident-bot"), userToken: await userToken("alice") });
    expect(both.answer).toMatchObject({ decision: "allow" });
  });

  it("denies /v1/authorize, which carries no tokens, and ignores a caller's claim to be verified", async () => {
    const q = {
      principal: { type: "Mcp::Agent", id: "incident-bot" },
      action: { type: "Mcp::Action", id: "filesystem/read_file" },
      resource: { type: "Mcp::Server", id: "filesystem" },
      context: { input: { path: "/srv/a" }, session: { requestTime: 1, hourUtc: 1, weekdayUtc: 1, verified: { agent: true, user: true } } },
    };
    const strictAnswer = await (await strict.request("/v1/authorize", { body: q, key: strict.keys.pep })).json();
    expect(strictAnswer).toMatchObject({ decision: "deny", reasons: ["verdict:unverified-agent"] });
    const carol = { ...q, context: { ...q.context, session: { ...q.context.session, user: { __entity: { type: "Mcp::User", id: "carol" } } } } };
    const answer = await (await t.request("/v1/authorize", { body: carol, key: t.keys.pep })).json();
    expect(answer).toMatchObject({ decision: "deny", reasons: ["forbid-unverified-contractors"] });
  });
});

describe("no token passthrough", () => {
  it("never stores, returns or echoes a received token, valid or refused; only its SHA-256", async () => {
    const good = await agentToken("incident-bot");
    const goodUser = await userToken("alice", { act: { sub: `${SPIFFE}incident-bot` } });
    const bad = await agentToken("incident-bot", { aud: "wrong" });
    const tokens = [good, goodUser, bad];
    const r1 = await t.request("/v1/mcp/tools/call", { key: t.keys.pep, body: { ...read, agentToken: good, userToken: goodUser, credential: true } });
    const r2 = await t.request("/v1/mcp/tools/call", { key: t.keys.pep, body: { ...read, agentToken: bad } });
    const r3 = await t.request("/v1/mcp/tools/call", { key: t.keys.pep, body: { ...read, agentToken: good, userToken: 42 } });
    expect(r3.status).toBe(400);
    const answers = (await r1.text()) + (await r2.text()) + (await r3.text());
    await t.log.drain();
    const rows = JSON.stringify(await t.db.database.db.execute(sql`SELECT row_to_json(d)::text AS row FROM decisions d`));
    for (const token of tokens) {
      const signature = token.split(".")[2]!;
      expect(rows).not.toContain(token);
      expect(rows).not.toContain(signature);
      expect(answers).not.toContain(signature);
    }
    expect(rows).toContain(sha256(good));
    expect(rows).toContain(sha256(bad));
  });
});

describe("issuer configuration", () => {
  it("reads VERDICT_ISSUERS inline or from VERDICT_ISSUERS_FILE, with defaults", () => {
    const entry = { issuer: "https://idp.test", jwksUrl: "https://idp.test/jwks", audience: "verdict", kind: "user" };
    const inline = loadConfig({ VERDICT_ISSUERS: JSON.stringify([entry]), VERDICT_REQUIRE_VERIFIED: "user" });
    expect(inline.issuers).toEqual([{ ...entry, idClaim: "sub", clockToleranceSeconds: 30 }]);
    expect(inline.requireVerified).toBe("user");
    const file = join(dir, "issuers.json");
    writeFileSync(file, JSON.stringify([entry]));
    expect(loadConfig({ VERDICT_ISSUERS_FILE: file }).issuers).toHaveLength(1);
  });

  it("names the variable and the entry that is wrong", () => {
    expect(() => loadConfig({ VERDICT_ISSUERS: "[{" })).toThrow(/VERDICT_ISSUERS: not JSON/);
    expect(() => loadConfig({ VERDICT_ISSUERS: JSON.stringify([{ issuer: "x", audience: "v", kind: "agent" }]) })).toThrow(
      /VERDICT_ISSUERS: \[0\]: give exactly one of jwksUrl and jwksFile/,
    );
    expect(() => loadConfig({ VERDICT_ISSUERS: JSON.stringify([{ issuer: "x", jwksUrl: "https://x/j", audience: "v", kind: "robot" }]) })).toThrow(
      /\[0\.kind\]/,
    );
    expect(() => loadConfig({ VERDICT_ISSUERS_FILE: join(dir, "missing.json") })).toThrow(/VERDICT_ISSUERS_FILE: cannot read/);
    expect(() => loadConfig({ VERDICT_CREDENTIAL_TTL: "600" })).toThrow(ConfigError);
  });
});
