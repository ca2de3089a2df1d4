import { desc } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChainCheckpointer } from "../src/audit/checkpoints.js";
import { chainCheckpoints } from "../src/db/audit-schema.js";
import { SigningKeys } from "../src/keys/signing-keys.js";
import { createTestApp, examplePolicySet, type TestApp } from "./helpers/app.js";
import { recordToolCall } from "./helpers/decisions.js";

let t: TestApp;
let keys: SigningKeys;
beforeAll(async () => {
  t = await createTestApp();
  keys = await SigningKeys.open(t.db.database.db);
});
afterAll(async () => {
  await t.close();
});

const record = () =>
  recordToolCall(t.log, examplePolicySet(), { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/a" } });
const heads = () => t.db.database.db.select().from(chainCheckpoints).orderBy(desc(chainCheckpoints.id));

describe("signed chain heads", () => {
  it("signs the head on the record threshold and at stop, with a JWT Verdict's keys verify", async () => {
    const cp = new ChainCheckpointer(t.db.database.db, t.log, keys, { intervalMs: 3_600_000, everyRecords: 3 });
    cp.start();
    for (let i = 0; i < 3; i++) await record();
    await expect.poll(async () => (await heads()).length, { timeout: 5_000 }).toBe(1);
    const [first] = await heads();
    expect(first).toMatchObject({ stream: t.log.streamId, seq: 3 });
    const claims = await keys.verifyJwt(first!.jwt, { typ: "verdict-chain-head+jwt" });
    expect(claims).toMatchObject({ stream: t.log.streamId, seq: 3, hash: first!.hash });

    const last = await record();
    await cp.stop();
    const [final] = await heads();
    expect(final).toMatchObject({ seq: 4, hash: last.hash });
    // Nothing new: stopping again signs nothing.
    expect(await cp.checkpoint()).toBe(0);
  });

  it("signs on the timer when decisions arrived", async () => {
    const cp = new ChainCheckpointer(t.db.database.db, t.log, keys, { intervalMs: 300 });
    cp.start();
    const r = await record();
    await expect.poll(async () => (await heads())[0]?.seq, { timeout: 5_000 }).toBe(r.seq);
    await cp.stop();
  });
});
