/**
 * An answer exists only once its decision is recorded. The database stays up and the API key is
 * read as usual; only the INSERT into `decisions` fails (a trigger, ./helpers/refuse-decisions.ts),
 * so each endpoint's own record-before-answer path is what answers. AuthZEN's endpoints are
 * checked the same way in authzen.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../helpers/app.js";
import { decisionRows, refuseDecisionInserts } from "../helpers/refuse-decisions.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const session = { requestTime: 1_772_445_600, hourUtc: 10, weekdayUtc: 1 };
const toolCall = { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" } };
const authorize = {
  principal: { type: "Mcp::Agent", id: "incident-bot" },
  action: { type: "Mcp::Action", id: "filesystem/read_file" },
  resource: { type: "Mcp::Server", id: "filesystem" },
  context: { input: { path: "/srv/runbooks/db.md" }, session: { ...session, user: { __entity: { type: "Mcp::User", id: "alice" } } } },
};

/** The parts of a decision answer the checks below read. */
type Answer = { decision?: string; credential?: { token?: unknown }; results?: Array<{ decision?: string }> };

/** Each deciding endpoint with a request it answers `allow` (and how many records that makes). */
const ENDPOINTS = [
  { name: "tools/call", path: "/v1/mcp/tools/call", body: toolCall, records: 1, allows: (b: Answer) => b.decision === "allow" },
  { name: "tools/call with a credential", path: "/v1/mcp/tools/call", body: { ...toolCall, credential: true }, records: 1, allows: (b: Answer) => b.decision === "allow" && typeof b.credential?.token === "string" },
  { name: "authorize", path: "/v1/authorize", body: authorize, records: 1, allows: (b: Answer) => b.decision === "allow" },
  { name: "authorize/batch", path: "/v1/authorize/batch", body: { requests: [authorize, authorize] }, records: 2, allows: (b: Answer) => b.results?.length === 2 && b.results.every((r) => r.decision === "allow") },
] as const;

describe("defect 11: record-before-answer was tested only where the API-key lookup failed first", () => {
  it.each(ENDPOINTS)("$name answers 503 and no decision when only the decision's INSERT fails, and decides again after", async (e) => {
    // The request is admitted and allowed while the table takes rows.
    const before = await t.request(e.path, { body: e.body, key: t.keys.pep });
    expect(before.status).toBe(200);
    expect(e.allows(await before.json())).toBe(true);

    const rows = await decisionRows(t.db.database.db);
    const failed = t.log.stats.failed;
    const restore = await refuseDecisionInserts(t.db.database.db);
    let status: number;
    let body: Record<string, unknown>;
    try {
      const res = await t.request(e.path, { body: e.body, key: t.keys.pep });
      status = res.status;
      body = await res.json();
    } finally {
      await restore();
    }
    expect(status).toBe(503);
    expect(Object.keys(body)).toEqual(["error"]);
    expect(body.error).toMatchObject({ code: "unavailable" });
    // It was the decision log that refused the rows (not an earlier read), and none was kept.
    expect(t.log.stats.failed - failed).toBe(e.records);
    expect(await decisionRows(t.db.database.db)).toBe(rows);

    const after = await t.request(e.path, { body: e.body, key: t.keys.pep });
    expect(after.status).toBe(200);
    expect(e.allows(await after.json())).toBe(true);
  }, 60_000);
});
