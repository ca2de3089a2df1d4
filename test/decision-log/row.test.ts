/**
 * The one mapping between the decision record and its row (`src/decision-log/row.ts`): every
 * column of `decisions` is written, each field lands in its own column, and a row reads back as
 * the record it was written from, in the wire schema's field order.
 */
import { getTableColumns } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { DecisionRecord } from "../../src/contract/decision-log.js";
import { decisions } from "../../src/db/schema.js";
import { HASH_VERSION } from "../../src/decision-log/record.js";
import { fromRow, RECORD_FIELDS, selectFields, toRow, type Row } from "../../src/decision-log/row.js";

const record: DecisionRecord = {
  id: "0198f3a4-0000-7000-8000-000000000001",
  time: "2026-03-04T10:00:00.123Z",
  kind: "tools/call",
  agent: "agent-1",
  user: "alice",
  delegation: [{ sub: "svc", iss: "https://idp.example" }],
  server: "github",
  tool: "read_file",
  action: 'Mcp::Action::"github/read_file"',
  arguments: { path: "/a" },
  argumentsSha256: "f".repeat(64),
  task: { id: "T-1", kind: "incident" },
  decision: "deny",
  reasons: ["forbid-etc"],
  errors: [{ policyId: "p", message: "m" }],
  obligations: [{ log: true }],
  message: "denied by forbid-etc",
  policySetVersion: "sha256:" + "a".repeat(64),
  caller: "key-1",
  identity: { agent: { id: "agent-1", verified: true }, user: null },
  credentialJti: "jti-1",
  requestId: "req-1",
  evaluationMicros: 42,
  request: { principal: { type: "Mcp::Agent", id: "agent-1" } },
  traceId: "0af7651916cd43dd8448eb211c80319c",
  stream: "0198f3a4-0000-7000-8000-0000000000aa",
  seq: 7,
  prevHash: "b".repeat(64),
  hash: "c".repeat(64),
};

describe("record and row", () => {
  it("writes every column of decisions, each field in its own", () => {
    const row = toRow(record);
    expect(Object.keys(row).sort()).toEqual(Object.keys(getTableColumns(decisions)).sort());
    expect(row.userId).toBe("alice");
    expect(row.time).toEqual(new Date("2026-03-04T10:00:00.123Z"));
    expect(row.taskId).toBe("T-1");
    expect(row.hashVersion).toBe(HASH_VERSION);
    expect(row.traceId).toBe(record.traceId);
    expect(row.prevHash).toBe(record.prevHash);
    expect(row.request).toBe(record.request);
  });

  it("stores no task id without a task, and a null trace id for a record without one", () => {
    const { traceId: _, ...untraced } = record;
    const row = toRow({ ...untraced, task: null });
    expect(row.taskId).toBeNull();
    expect(row.traceId).toBeNull();
  });

  it("reads a row back as its record, in the wire schema's field order", () => {
    const back = fromRow(toRow(record) as Row);
    expect(back).toEqual(record);
    expect(Object.keys(back)).toEqual(Object.keys(DecisionRecord.shape));
    expect(RECORD_FIELDS).toEqual(Object.keys(DecisionRecord.shape));
    expect(DecisionRecord.parse(back)).toEqual(record);
  });

  it("selects fields under their record names from their columns", () => {
    const columns = selectFields(["id", "user", "time"]);
    expect(Object.keys(columns)).toEqual(["id", "user", "time"]);
    expect(columns.user).toBe(decisions.userId);
    expect(columns.time).toBe(decisions.time);
  });
});
