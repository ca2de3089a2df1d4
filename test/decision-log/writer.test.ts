/**
 * The group-committed decision log writes each batch as one INSERT with the rows in a single
 * JSON parameter. Every field must come back exactly as it was recorded (text arrays, JSON
 * values, nulls, numbers), and concurrent appends must form one unbroken hash chain.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { v7 as uuidv7 } from "uuid";
import { DecisionLog } from "../../src/decision-log/writer.js";
import { getDecision } from "../../src/decision-log/query.js";
import { recordHash, type UnchainedRecord } from "../../src/decision-log/record.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.dispose();
});

function record(i: number): UnchainedRecord {
  return {
    id: uuidv7(),
    time: new Date(Date.UTC(2026, 2, 4, 10, 0, 0, i)).toISOString(),
    kind: "tools/call",
    agent: `agent-${i % 7}`,
    user: i % 3 === 0 ? null : `user-${i}`,
    delegation: i % 2 ? [{ sub: `user-${i}` }] : [],
    server: "github",
    tool: "read_file",
    action: 'Mcp::Action::"github/read_file"',
    arguments: i % 5 === 0 ? null : { path: `/a/${i}`, quote: 'it\'s "quoted"', unicode: "é ✓", n: 9007199254740991, nested: { list: [1, 2.5, true, null] } },
    argumentsSha256: "0".repeat(64),
    task: i % 4 === 0 ? null : { id: `T-${i}`, kind: "incident" },
    decision: i % 2 ? "allow" : "deny",
    reasons: i % 2 ? ["p-1", 'with "quotes", commas and {braces}'] : [],
    errors: i % 6 === 0 ? [{ policyId: null, message: "bad request" }] : [],
    obligations: [],
    message: i % 9 === 0 ? null : `message ${i}`,
    policySetVersion: "sha256:" + "a".repeat(64),
    caller: null,
    requestId: `req-${i}`,
    evaluationMicros: i * 13,
    request: { principal: { type: "Mcp::Agent", id: `agent-${i % 7}` }, context: { input: { path: `/a/${i}` } }, entities: [] },
    identity: i % 2 ? { agent: { id: `agent-${i % 7}`, verified: true, issuer: "https://idp.example" }, user: null } : null,
    credentialJti: i % 3 === 1 ? `jti-${i}` : null,
  } as UnchainedRecord;
}

describe("decision log", () => {
  it("stores concurrent appends field for field, in one unbroken chain", async () => {
    const log = new DecisionLog(t.database, { maxBatch: 16 });
    const sent = Array.from({ length: 60 }, (_, i) => record(i));
    const chained = await Promise.all(sent.map((r) => log.append(r)));
    await log.close();
    expect(log.stats.recorded).toBe(60);
    expect(log.stats.batches).toBeGreaterThan(1);

    const bySeq = [...chained].sort((a, b) => a.seq - b.seq);
    expect(bySeq.map((r) => r.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    let prev: string | null = null;
    for (const r of bySeq) {
      expect(r.prevHash).toBe(prev);
      const { hash, ...rest } = r;
      expect(hash).toBe(recordHash(rest));
      prev = hash;
    }
    for (const r of chained) {
      const stored = await getDecision(t.database.db, r.id);
      // A record appended without a trace id reads back with `traceId: null` (migration 0007).
      expect(stored).toEqual({ traceId: null, ...r });
    }
  });
});
