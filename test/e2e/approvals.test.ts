/**
 * Approvals across replicas: two Verdict servers (each its own pool and decision-log writer) on
 * one real Postgres database, whatever the driver under test. An approval given through one is
 * used once whichever replica the identical call reaches: of concurrent identical calls spread
 * over both, exactly one is allowed; the same pending request is found from both; the chain of
 * both writers verifies with the approval records in it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_ADMIN_KEY } from "../helpers/app.js";
import { BIG_REFUND, writeApprovalSet } from "../helpers/approval-set.js";
import { createPostgresDatabase, LOCAL_POSTGRES } from "../helpers/db.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

const set = writeApprovalSet();
const replicas: TestVerdict[] = [];
let drop: (() => Promise<void>) | undefined;
let approverKey = "";

type Obligation = { type: string; id: string; status: string };
type Answer = { decision: string; reasons: string[]; obligations: Obligation[] };

async function api(replica: number, path: string, init: { method?: string; body?: unknown; key?: string } = {}): Promise<Response> {
  return fetch(`${replicas[replica]!.url}${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: { "content-type": "application/json", authorization: `Bearer ${init.key ?? TEST_ADMIN_KEY}` },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

async function call(replica: number, body: unknown): Promise<Answer> {
  const res = await api(replica, "/v1/mcp/tools/call", { body });
  const json = (await res.json()) as Answer;
  expect(res.status, JSON.stringify(json)).toBe(200);
  return json;
}

beforeAll(async () => {
  const db = await createPostgresDatabase(LOCAL_POSTGRES);
  drop = db.drop;
  // one after the other: both would migrate (serialised by an advisory lock) anyway
  replicas.push(await startTestVerdict({ ...set, databaseUrl: db.url }));
  replicas.push(await startTestVerdict({ ...set, databaseUrl: db.url }));
  const key = await api(0, "/v1/keys", { body: { name: "erin", role: "approver", user: "erin" } });
  expect(key.status).toBe(201);
  approverKey = ((await key.json()) as { key: string }).key;
}, 240_000);

afterAll(async () => {
  for (const r of replicas) await r.stop().catch(() => undefined);
  await drop?.();
}, 60_000);

describe("two replicas on one Postgres", () => {
  it("find the same pending request for the same call, whichever is asked", async () => {
    const body = { ...BIG_REFUND, task: { id: "RACE-0" } };
    const [a, b] = await Promise.all([call(0, body), call(1, body)]);
    const ids = [a, b].map((x) => x.obligations.find((o) => o.type === "approval")!.id);
    expect(ids[0]).toBe(ids[1]);
    const list = (await (await api(1, "/v1/approvals?task=RACE-0", { key: approverKey })).json()) as { approvals: unknown[] };
    expect(list.approvals).toHaveLength(1);
  }, 60_000);

  it("racing to use one approval, they allow exactly one call", async () => {
    for (let round = 1; round <= 3; round++) {
      const body = { ...BIG_REFUND, task: { id: `RACE-${round}` } };
      const asked = (await call(round % 2, body)).obligations.find((o) => o.type === "approval")!;
      const approved = await api((round + 1) % 2, `/v1/approvals/${asked.id}/approve`, { method: "POST", key: approverKey });
      expect(approved.status).toBe(200);
      // ten identical retries at once, five on each replica
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => call(i % 2, body)));
      const allowed = answers.filter((x) => x.decision === "allow");
      expect(allowed, `round ${round}: ${JSON.stringify(answers.map((x) => x.decision))}`).toHaveLength(1);
      expect(allowed[0]!.obligations[0]).toMatchObject({ type: "approval", id: asked.id, status: "used" });
      // the others were denied, and asked for a new approval (one request between them)
      const next = new Set(answers.filter((x) => x.decision === "deny").map((x) => x.obligations.find((o) => o.type === "approval")!.id));
      expect(next.size).toBe(1);
      expect(next.has(asked.id)).toBe(false);
      const shown = (await (await api(0, `/v1/approvals/${asked.id}`)).json()) as { status: string; usedBy: string };
      expect(shown.status).toBe("used");
    }
  }, 120_000);

  it("the chain of both writers verifies with the approval records in it", async () => {
    const res = await api(0, "/v1/audit/verify");
    const report = (await res.json()) as { ok: boolean; streams: number };
    expect(report.ok).toBe(true);
    expect(report.streams).toBeGreaterThanOrEqual(2);
    const approvals = (await (await api(1, "/v1/decisions?kind=approval/approve")).json()) as { decisions: unknown[] };
    expect(approvals.decisions).toHaveLength(3);
  }, 60_000);
});
