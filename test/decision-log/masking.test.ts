import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyChains } from "../../src/audit/verify.js";
import { ConfigError, loadConfig } from "../../src/config.js";
import type { DecisionRecord } from "../../src/contract/decision-log.js";
import { loadMaskingRules, Masking } from "../../src/decision-log/masking.js";
import { rowsOf } from "../../src/decision-log/partitions.js";
import { canonicalSha256 } from "../../src/decision-log/record.js";
import { createTestApp, type TestApp } from "../helpers/app.js";

const SECRET = "s3cr3t-Content-7f3a";
const ENTITY = "hidden-host-91b2";
const SANDBOX_PATH = "/tmp/verdict-sandbox/notes.txt";
let dir: string;
let t: TestApp;
let plain: TestApp;

const call = (app: TestApp, body: unknown) => app.request("/v1/mcp/tools/call", { body });
const writeCall = (path: string) => ({ agent: "code-assistant", user: "bob", server: "filesystem", tool: "write_file", arguments: { path, content: SECRET }, task: { id: "T-9" } });
const entityCall = { agent: "incident-bot", server: "memory", tool: "create_entities", arguments: { entities: [{ name: ENTITY, entityType: "host", observations: ["up"] }] } };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "verdict-masking-"));
  const file = join(dir, "masking.json");
  writeFileSync(
    file,
    JSON.stringify({
      // The path decides the sandbox policies: masking it must not change any decision.
      "filesystem/write_file": { mask: ["$.content", "$.path"] },
      "memory/create_entities": { hash: ["$.entities[*].name"] },
    }),
  );
  const config = loadConfig({ VERDICT_MASKING_FILE: file });
  t = await createTestApp({ masking: new Masking(config.masking!) });
  plain = await createTestApp();
});
afterAll(async () => {
  await t.close();
  await plain.close();
  rmSync(dir, { recursive: true, force: true });
});

async function record(app: TestApp, body: unknown): Promise<{ answer: { decision: string; reasons: string[]; decisionId: string }; rec: DecisionRecord }> {
  const answer = (await (await call(app, body)).json()) as { decision: string; reasons: string[]; decisionId: string };
  const rec = (await (await app.request(`/v1/decisions/${answer.decisionId}`)).json()) as DecisionRecord;
  return { answer, rec };
}

describe("argument masking", () => {
  it("never changes a decision: the engine sees the real values", async () => {
    for (const body of [writeCall(SANDBOX_PATH), writeCall("/etc/passwd"), entityCall]) {
      const masked = await record(t, body);
      const unmasked = await record(plain, body);
      expect(masked.answer.decision).toBe(unmasked.answer.decision);
      expect(masked.answer.reasons).toEqual(unmasked.answer.reasons);
    }
    expect((await record(t, writeCall(SANDBOX_PATH))).answer.decision).toBe("allow");
    expect((await record(t, writeCall("/etc/passwd"))).answer.decision).toBe("deny");
  });

  it("stores masked and hashed values in arguments and in request.context.input, and keeps the hash of the unmasked arguments", async () => {
    const { rec } = await record(t, writeCall(SANDBOX_PATH));
    expect(rec.arguments).toEqual({ path: "***", content: "***" });
    expect((rec.request as { context: { input: unknown } }).context.input).toEqual({ path: "***", content: "***" });
    expect(rec.argumentsSha256).toBe(canonicalSha256(writeCall(SANDBOX_PATH).arguments));

    const e = await record(t, entityCall);
    const hashed = `sha256:${canonicalSha256(ENTITY)}`;
    expect(e.rec.arguments).toEqual({ entities: [{ name: hashed, entityType: "host", observations: ["up"] }] });
    expect((e.rec.request as { context: { input: { entities: { name: string }[] } } }).context.input.entities[0]!.name).toBe(hashed);
    expect(e.rec.argumentsSha256).toBe(canonicalSha256(entityCall.arguments));
  });

  it("leaves no masked value anywhere in the database (every column of every table, as text)", async () => {
    const db = t.db.database.db;
    const tables = rowsOf<{ name: string }>(
      await db.execute(sql`SELECT c.relname AS name FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition`),
    ).map((r) => r.name);
    expect(tables).toContain("decisions");
    for (const table of tables) {
      for (const needle of [SECRET, ENTITY, SANDBOX_PATH]) {
        const [row] = rowsOf<{ n: number }>(await db.execute(sql`SELECT count(*)::int AS n FROM ${sql.identifier(table)} x WHERE x::text LIKE ${`%${needle}%`}`));
        expect(row!.n, `${needle} in ${table}`).toBe(0);
      }
    }
    // The check can fail: the unmasked app's database holds the same values.
    const [leak] = rowsOf<{ n: number }>(await plain.db.database.db.execute(sql`SELECT count(*)::int AS n FROM decisions x WHERE x::text LIKE ${`%${SECRET}%`}`));
    expect(leak!.n).toBeGreaterThan(0);
  });

  it("leaves no masked value in exports, and the chain of masked records verifies", async () => {
    for (const format of ["jsonl", "csv"]) {
      const text = await (await t.request(`/v1/decisions/export?format=${format}`)).text();
      expect(text).toContain("create_entities");
      for (const needle of [SECRET, ENTITY, SANDBOX_PATH]) expect(text).not.toContain(needle);
    }
    expect((await verifyChains(t.db.database.db)).ok).toBe(true);
  });

  it("rejects a masking file that is not valid, naming the variable and the entry", () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ "filesystem/write_file": { mask: ["content"] } }));
    expect(() => loadConfig({ VERDICT_MASKING_FILE: bad })).toThrow(ConfigError);
    expect(() => loadMaskingRules(bad)).toThrow(/filesystem\/write_file.mask.0: must be a JSONPath/);
    writeFileSync(bad, JSON.stringify({ write_file: {} }));
    expect(() => loadMaskingRules(bad)).toThrow(/write_file: keys are "<server>\/<tool>"/);
    expect(() => loadMaskingRules(join(dir, "absent.json"))).toThrow(/absent.json/);
  });
});
