import { count, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyStore, hashApiKey } from "../../src/api-keys/store.js";
import { decisions } from "../../src/db/schema.js";
import { createTestApp, TEST_ADMIN_KEY, type TestApp } from "../helpers/app.js";
import { createTestDatabase } from "../helpers/db.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const readCall = { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" } };

async function recorded(): Promise<number> {
  await t.log.drain();
  const [row] = await t.db.database.db.select({ n: count() }).from(decisions);
  return Number(row!.n);
}

describe("API keys in front of the decision endpoints", () => {
  it("answers 401 without a key, with an unknown key, or with a malformed header, and records nothing", async () => {
    const before = await recorded();
    const none = await t.request("/v1/mcp/tools/call", { body: readCall, key: null });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect((await none.json()).error).toMatchObject({ code: "unauthorized", message: expect.stringContaining("missing API key") });
    const unknown = await t.request("/v1/mcp/tools/call", { body: readCall, key: "vk_not-a-key-at-all" });
    expect(unknown.status).toBe(401);
    expect((await unknown.json()).error.message).toContain("unknown or revoked");
    const basic = await t.request("/v1/mcp/tools/call", { body: readCall, key: null, headers: { authorization: `Basic ${t.keys.pep}` } });
    expect(basic.status).toBe(401);
    expect(await recorded()).toBe(before);
  });

  it("stops accepting a revoked key at once, and records nothing for it", async () => {
    const created = await (await t.request("/v1/keys", { body: { name: "gw-revoked", role: "pep" } })).json();
    const ok = await t.request("/v1/mcp/tools/call", { body: readCall, key: created.key });
    expect(ok.status).toBe(200);
    const before = await recorded();
    const del = await t.request(`/v1/keys/${created.id}`, { method: "DELETE" });
    expect(del.status).toBe(200);
    expect((await del.json()).revokedAt).toEqual(expect.any(String));
    const res = await t.request("/v1/mcp/tools/call", { body: readCall, key: created.key });
    expect(res.status).toBe(401);
    expect(await recorded()).toBe(before);
  });

  it("answers 403 to a key of the wrong role, naming the role needed, and records nothing", async () => {
    const before = await recorded();
    for (const [role, path, body] of [
      ["auditor", "/v1/mcp/tools/call", readCall],
      ["policy-admin", "/v1/authorize", { principal: { type: "Mcp::Agent", id: "x" }, action: { type: "Mcp::Action", id: "y" }, resource: { type: "Mcp::Server", id: "z" } }],
      ["pep", "/v1/decisions", undefined],
      ["auditor", "/v1/keys", undefined],
      ["pep", "/v1/signing-keys/rotate", {}],
    ] as const) {
      const res = await t.request(path, { body, key: t.keys[role] });
      expect(res.status, `${role} ${path}`).toBe(403);
      expect((await res.json()).error.message).toContain(`has role ${role}`);
    }
    expect(await recorded()).toBe(before);
  });

  it("admits each role to its own endpoints and admin everywhere", async () => {
    expect((await t.request("/v1/mcp/tools/call", { body: readCall, key: t.keys.pep })).status).toBe(200);
    expect((await t.request("/v1/decisions", { key: t.keys.auditor })).status).toBe(200);
    expect((await t.request("/v1/decisions", { key: t.keys.admin })).status).toBe(200);
    expect((await t.request("/v1/mcp/tools/call", { body: readCall, key: t.keys.admin })).status).toBe(200);
    // policy-admin owns /v1/policy-sets* (issue 5); a gateway's key does not.
    expect((await t.request("/v1/policy-sets", { key: t.keys["policy-admin"] })).status).toBe(200);
    expect((await t.request("/v1/policy-sets", { key: t.keys.pep })).status).toBe(403);
  });

  it("keeps a route nobody listed closed to everyone but admin, whatever the path's spelling", async () => {
    expect((await t.request("/v1/something-new", { key: t.keys.pep })).status).toBe(403);
    expect((await t.request("/v1/something-new", { key: t.keys.admin })).status).toBe(404);
    // Each spelling is normalised to /v1/keys (admin only) or names no listed prefix (admin
    // only): a 403 for pep, not merely "not 200" (a 500 or a 404 must fail this test too).
    for (const path of ["/v1/mcp/../keys", "/v1/mcp/%2e%2e/keys", "/v1/decisions/../keys", "/v1/mcpx/keys"]) {
      const res = await t.request(path, { key: t.keys.pep });
      expect([path, res.status, (await res.json()).error?.code]).toEqual([path, 403, "forbidden"]);
    }
  });

  it("leaves health and public metadata open", async () => {
    expect((await t.request("/healthz", { key: null })).status).toBe(200);
    expect((await t.request("/readyz", { key: null })).status).toBe(200);
    const jwks = await t.request("/.well-known/jwks.json", { key: null });
    expect(jwks.status).toBe(200);
    expect((await jwks.json()).keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256" });
  });

  it("names the calling key in the decision record", async () => {
    const answer = await (await t.request("/v1/mcp/tools/call", { body: readCall, key: t.keys.pep })).json();
    const rec = await (await t.request(`/v1/decisions/${answer.decisionId}`, { key: t.keys.auditor })).json();
    const pep = (await t.apiKeys.list()).find((k) => k.name === "test-pep")!;
    expect(rec.caller).toBe(`apikey:${pep.id} (test-pep)`);
  });
});

describe("admin API /v1/keys", () => {
  it("creates a key shown once, lists keys without secrets, and 404s an unknown id", async () => {
    const res = await t.request("/v1/keys", { body: { name: "gw1", role: "pep" } });
    expect(res.status).toBe(201);
    const created = await res.json();
    expect(created).toMatchObject({ name: "gw1", role: "pep", revokedAt: null });
    expect(created.key).toMatch(/^vk_[A-Za-z0-9_-]{43}$/);
    expect(created.prefix).toBe(created.key.slice(0, 10));
    const listText = await (await t.request("/v1/keys")).text();
    expect(listText).not.toContain(created.key);
    expect(listText).not.toContain(hashApiKey(created.key));
    expect(JSON.parse(listText).keys.map((k: { id: string }) => k.id)).toContain(created.id);
    expect((await t.request("/v1/keys/key_nope", { method: "DELETE" })).status).toBe(404);
  });

  it("rejects an unknown role with a 400 naming the field", async () => {
    const res = await t.request("/v1/keys", { body: { name: "x", role: "root" } });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toContain("role");
  });

  it("stores only the SHA-256 of a key", async () => {
    const { key, info } = await t.apiKeys.create({ name: "stored", role: "auditor" });
    const rows = await t.db.database.db.execute(sql`SELECT row_to_json(k)::text AS row FROM api_keys k WHERE id = ${info.id}`);
    const text = JSON.stringify(rows);
    expect(text).toContain(hashApiKey(key));
    expect(text).not.toContain(key);
  });
});

describe("first start and VERDICT_ADMIN_KEY", () => {
  it("creates one bootstrap admin key on an empty database, and none once any key exists", async () => {
    const db = await createTestDatabase();
    try {
      const store = new ApiKeyStore(db.database.db);
      const first = await store.ensureAdmin(undefined);
      expect(first?.info).toMatchObject({ name: "bootstrap", role: "admin" });
      expect(await store.authenticate(first!.key)).toMatchObject({ role: "admin" });
      expect(await store.ensureAdmin(undefined)).toBeNull();
      await store.revoke(first!.info.id);
      expect(await store.ensureAdmin(undefined)).toBeNull();
      expect(await store.authenticate(first!.key)).toBeNull();
    } finally {
      await db.dispose();
    }
  }, 120_000);

  it("seeds VERDICT_ADMIN_KEY as an admin key, replaces it when it changes, withdraws it when unset", async () => {
    const db = await createTestDatabase();
    try {
      const store = new ApiKeyStore(db.database.db, { cacheSeconds: 0 });
      expect(await store.ensureAdmin(TEST_ADMIN_KEY)).toBeNull();
      expect(await store.authenticate(TEST_ADMIN_KEY)).toMatchObject({ id: "admin-env", role: "admin" });
      await store.ensureAdmin("another-admin-key-0123456789");
      expect(await store.authenticate(TEST_ADMIN_KEY)).toBeNull();
      expect(await store.authenticate("another-admin-key-0123456789")).toMatchObject({ id: "admin-env" });
      expect(await store.ensureAdmin(undefined)).toBeNull();
      expect(await store.authenticate("another-admin-key-0123456789")).toBeNull();
    } finally {
      await db.dispose();
    }
  }, 120_000);
});
