/**
 * Per-call credentials: minted for an allowed call that asks for one, verified by
 * `verifyCallCredential` exactly as an MCP server would (JWKS from Verdict's public endpoint,
 * over real HTTP in one case), refused for any other call, after expiry, and kept verifiable
 * across a signing-key rotation.
 */
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalSha256 } from "../../src/contract/canonical.js";
import { CallCredentialError, verifyCallCredential } from "@verdict/sdk";
import { recordHash } from "../../src/decision-log/record.js";
import { createTestApp, TEST_ISSUER, type TestApp } from "../helpers/app.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const read = {
  agent: "incident-bot",
  user: "alice",
  server: "filesystem",
  tool: "read_file",
  arguments: { path: "/srv/runbooks/db.md", head: 10 },
  task: { id: "INC-9", kind: "incident" },
};

async function mint(body: Record<string, unknown> = read) {
  const answer = await (await t.request("/v1/mcp/tools/call", { key: t.keys.pep, body: { ...body, credential: true } })).json();
  return answer;
}

async function jwks() {
  return (await t.request("/.well-known/jwks.json", { key: null })).json();
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CallCredentialError) return e.failure;
    throw e;
  }
  return "verified";
}

describe("per-call credential", () => {
  it("is a Transaction Token bound to the call, and the record keeps its jti", async () => {
    const answer = await mint();
    expect(answer.decision).toBe("allow");
    const { token, jti, tokenType, expiresAt } = answer.credential;
    expect(tokenType).toBe("urn:ietf:params:oauth:token-type:txn_token");
    expect(decodeProtectedHeader(token)).toMatchObject({ typ: "txntoken+jwt", alg: "ES256", kid: t.signingKeys.activeKid });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: TEST_ISSUER,
      sub: "alice",
      act: { sub: "incident-bot" },
      aud: "filesystem",
      txn: answer.decisionId,
      jti,
      tctx: { tool: "read_file", argumentsSha256: canonicalSha256(read.arguments), task: { id: "INC-9", kind: "incident" } },
    });
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(60);
    expect(new Date(expiresAt).getTime()).toBe(claims.exp! * 1000);
    const record = await (await t.request(`/v1/decisions/${answer.decisionId}`)).json();
    expect(record.credentialJti).toBe(jti);
    const { hash, ...unhashed } = record;
    expect(recordHash(unhashed), "the stored hash is the hash of the record as read back").toBe(hash);
    // The stored hash agreeing with recordHash says nothing about coverage: a field the hash
    // ignored would agree too. Changing the field must change the hash.
    expect(recordHash({ ...unhashed, credentialJti: `${jti}x` }), "the hash chain covers credentialJti").not.toBe(hash);
    expect(recordHash({ ...unhashed, credentialJti: null }), "the hash chain covers credentialJti").not.toBe(hash);
    expect(record.argumentsSha256).toBe(canonicalSha256(read.arguments));
    expect(JSON.stringify(record)).not.toContain(token.split(".")[2]);
  });

  it("names the agent as subject when it acts for nobody", async () => {
    const { credential } = await mint({ agent: "code-assistant", server: "everything", tool: "echo", arguments: { message: "hi" } });
    expect(decodeJwt(credential.token)).toMatchObject({ sub: "code-assistant", act: { sub: "code-assistant" }, aud: "everything", tctx: { task: null } });
  });

  it("is not minted for a deny, nor unless asked for", async () => {
    const denied = await mint({ ...read, arguments: { path: "/srv/../etc/passwd" } });
    expect(denied.decision).toBe("deny");
    expect(denied.credential).toBeUndefined();
    expect((await (await t.request(`/v1/decisions/${denied.decisionId}`)).json()).credentialJti).toBeNull();
    const unasked = await (await t.request("/v1/mcp/tools/call", { key: t.keys.pep, body: read })).json();
    expect(unasked.decision).toBe("allow");
    expect(unasked.credential).toBeUndefined();
  });

  it("verifies for its own call (arguments in any key order) and fails for any other", async () => {
    const { credential, decisionId } = await mint();
    const opts = { issuer: TEST_ISSUER, jwks: await jwks() };
    const claims = await verifyCallCredential(credential.token, { server: "filesystem", tool: "read_file", arguments: { head: 10, path: "/srv/runbooks/db.md" } }, opts);
    expect(claims).toMatchObject({ txn: decisionId, sub: "alice", act: { sub: "incident-bot" } });

    const call = { server: "filesystem", tool: "read_file", arguments: read.arguments };
    expect(await failure(verifyCallCredential(credential.token, { ...call, arguments: { ...read.arguments, path: "/etc/shadow" } }, opts))).toBe("wrong-arguments");
    expect(await failure(verifyCallCredential(credential.token, { ...call, arguments: { ...read.arguments, head: 11 } }, opts))).toBe("wrong-arguments");
    expect(await failure(verifyCallCredential(credential.token, { ...call, tool: "write_file" }, opts))).toBe("wrong-tool");
    expect(await failure(verifyCallCredential(credential.token, { ...call, server: "memory" }, opts))).toBe("wrong-server");
    expect(await failure(verifyCallCredential(credential.token, call, { ...opts, issuer: "https://someone-else.test" }))).toBe("wrong-issuer");
    const exp = decodeJwt(credential.token).exp!;
    expect(await failure(verifyCallCredential(credential.token, call, { ...opts, currentDate: new Date((exp - 1) * 1000), clockToleranceSeconds: 0 }))).toBe("verified");
    expect(await failure(verifyCallCredential(credential.token, call, { ...opts, currentDate: new Date((exp + 1) * 1000), clockToleranceSeconds: 0 }))).toBe("expired");
    const [h, , s] = credential.token.split(".");
    const forged = Buffer.from(JSON.stringify({ ...decodeJwt(credential.token), aud: "memory" })).toString("base64url");
    expect(await failure(verifyCallCredential(`${h}.${forged}.${s}`, { ...call, server: "memory" }, opts))).toBe("invalid");
  });

  it("refuses a token of Verdict's that is not a credential (another typ)", async () => {
    const other = await t.signingKeys.signJwt({ iss: TEST_ISSUER, aud: "filesystem", sub: "alice", jti: "x", txn: "y", exp: Math.floor(Date.now() / 1000) + 30, tctx: {} });
    expect(await failure(verifyCallCredential(other, { server: "filesystem", tool: "read_file", arguments: {} }, { issuer: TEST_ISSUER, jwks: await jwks() }))).toBe("invalid");
  });

  it("stays verifiable after a key rotation until it expires, fetched from the JWKS URL over HTTP", async () => {
    const server: ServerType = await new Promise((resolve) => {
      const s = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
    });
    try {
      const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
      const before = await mint();
      const oldKid = decodeProtectedHeader(before.credential.token).kid;
      const rotated = await t.request("/v1/signing-keys/rotate", { method: "POST" });
      expect(rotated.status).toBe(200);
      const after = await mint();
      const newKid = decodeProtectedHeader(after.credential.token).kid;
      expect(newKid).not.toBe(oldKid);
      expect((await jwks()).keys.map((k: { kid: string }) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
      const call = { server: "filesystem", tool: "read_file", arguments: read.arguments };
      for (const c of [before, after]) {
        expect((await verifyCallCredential(c.credential.token, call, { issuer: TEST_ISSUER, jwksUrl })).txn).toBe(c.decisionId);
      }
      const exp = decodeJwt(before.credential.token).exp!;
      expect(await failure(verifyCallCredential(before.credential.token, call, { issuer: TEST_ISSUER, jwksUrl, currentDate: new Date((exp + 6) * 1000) }))).toBe("expired");
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
