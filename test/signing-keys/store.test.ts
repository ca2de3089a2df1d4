import { decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SigningKeys } from "../../src/signing-keys/store.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.dispose();
});

describe("SigningKeys", () => {
  it("creates one key on first open and reuses it on the next", async () => {
    const a = await SigningKeys.open(db.database.db);
    const b = await SigningKeys.open(db.database.db);
    expect(b.activeKid).toBe(a.activeKid);
    expect(a.jwks().keys).toHaveLength(1);
    expect(a.jwks().keys[0]).not.toHaveProperty("d");
  });

  it("signs ES256 JWTs that verify, and rejects a tampered one", async () => {
    const keys = await SigningKeys.open(db.database.db);
    const token = await keys.signJwt({ sub: "alice" }, { typ: "txntoken+jwt" });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: "ES256", kid: keys.activeKid, typ: "txntoken+jwt" });
    expect((await keys.verifyJwt(token)).sub).toBe("alice");
    const [h, p, s] = token.split(".");
    const forged = Buffer.from(JSON.stringify({ sub: "mallory", iat: 1 })).toString("base64url");
    // Refused for its signature (not for some other fault), while the untouched payload says alice.
    await expect(keys.verifyJwt(`${h}.${forged}.${s}`)).rejects.toMatchObject({ code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
    expect(JSON.parse(Buffer.from(p!, "base64url").toString("utf8"))).toMatchObject({ sub: "alice", iat: expect.any(Number) });
  });

  it("keeps tokens of a rotated key verifiable, also on another replica after refresh", async () => {
    const keys = await SigningKeys.open(db.database.db);
    const replica = await SigningKeys.open(db.database.db);
    const old = await keys.signJwt({ sub: "before-rotation" });
    const oldKid = keys.activeKid;
    const newKid = await keys.rotate();
    expect(newKid).not.toBe(oldKid);
    expect(decodeProtectedHeader(await keys.signJwt({ sub: "after" })).kid).toBe(newKid);
    expect((await keys.verifyJwt(old)).sub).toBe("before-rotation");
    await replica.refresh();
    expect(replica.activeKid).toBe(newKid);
    expect(replica.jwks().keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
  });

  it("drops a retired key from the JWKS after the grace period", async () => {
    const keys = await SigningKeys.open(db.database.db, { graceSeconds: 0 });
    const before = keys.activeKid;
    await keys.rotate();
    expect(keys.jwks().keys.map((k) => k.kid)).not.toContain(before);
  });
});
