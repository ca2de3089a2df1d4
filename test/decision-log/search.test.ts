import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecisionRecord, DecisionStats } from "../../src/contract/decision-log.js";
import { rowsOf } from "../../src/decision-log/partitions.js";
import { createTestApp, examplePolicySet, type TestApp } from "../helpers/app.js";
import { recordToolCall } from "../helpers/decisions.js";

let t: TestApp;
const ps = () => examplePolicySet();
const HOUR = 3_600_000;
const base = new Date(Date.now() - 10 * HOUR);
let viaApi: { id: string; requestId: string };

/** GET a decisions page and return the ids found (every page, following nextCursor). */
async function search(query: string): Promise<DecisionRecord[]> {
  const out: DecisionRecord[] = [];
  let cursor: string | null = null;
  do {
    const res = await t.request(`/v1/decisions?${query}&limit=3${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status, await res.clone().text()).toBe(200);
    const page = (await res.json()) as { decisions: DecisionRecord[]; nextCursor: string | null };
    out.push(...page.decisions);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

beforeAll(async () => {
  t = await createTestApp();
  const at = (h: number) => new Date(base.getTime() + h * HOUR);
  await recordToolCall(t.log, ps(), { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: "/etc/hosts" }, task: { id: "INC-1" } }, { caller: "key-ops", time: at(0) });
  await recordToolCall(t.log, ps(), { agent: "incident-bot", user: "bob", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" }, task: { id: "INC-1" } }, { caller: "key-ops", time: at(1) });
  await recordToolCall(t.log, ps(), { agent: "code-assistant", user: "bob", server: "filesystem", tool: "write_file", arguments: { path: "/etc/passwd", content: "x" }, task: { id: "T-2" } }, { caller: "key-dev", time: at(2) });
  await recordToolCall(t.log, ps(), { agent: "code-assistant", server: "memory", tool: "create_entities", arguments: { entities: [{ name: "db-primary", entityType: "host", observations: ["100% busy_now"] }] } }, { caller: "key-dev", time: at(3) });
  await recordToolCall(t.log, ps(), { agent: "code-assistant", server: "everything", tool: "get-sum", arguments: { a: 1, b: 2 } }, { caller: "key-dev", time: at(4) });
  const requestId = "req-audit-0001";
  const res = await t.request("/v1/mcp/tools/call", {
    body: { agent: "report-bot", user: "carol", server: "memory", tool: "delete_entities", arguments: { entityNames: ["x"] } },
    headers: { "x-request-id": requestId },
  });
  viaApi = { id: ((await res.json()) as { decisionId: string }).decisionId, requestId };
});
afterAll(async () => {
  await t.close();
});

describe("GET /v1/decisions filters", () => {
  const cases: [string, (r: DecisionRecord) => boolean, number][] = [
    ["agent=incident-bot", (r) => r.agent === "incident-bot", 2],
    ["user=bob", (r) => r.user === "bob", 2],
    ["server=filesystem", (r) => r.server === "filesystem", 3],
    ["tool=read_file", (r) => r.tool === "read_file", 2],
    ["server=memory&tool=create_entities", (r) => r.tool === "create_entities", 1],
    ["decision=deny", (r) => r.decision === "deny", 3],
    ["task=INC-1", (r) => r.task?.id === "INC-1", 2],
    ["policy=forbid-writes-outside-sandbox", (r) => r.reasons.includes("forbid-writes-outside-sandbox"), 1],
    ["caller=key-dev", (r) => r.caller === "key-dev", 3],
    ["kind=tools/call", (r) => r.kind === "tools/call", 6],
    ["arg.path=/etc", (r) => String((r.arguments as { path?: string }).path).includes("/etc"), 2],
    ["arg.path=/etc&decision=allow", (r) => r.decision === "allow" && r.tool === "read_file", 1],
    ["arg.entities.0.name=db-prim", (r) => r.tool === "create_entities", 1],
    [`arg.entities.0.observations.0=${encodeURIComponent("100% busy_")}`, (r) => r.tool === "create_entities", 1],
    ["arg.a=1", (r) => r.tool === "get-sum", 1],
  ];
  for (const [query, pred, n] of cases) {
    it(`${query} returns exactly the matching decisions`, async () => {
      const found = await search(query);
      expect(found).toHaveLength(n);
      expect(found.every(pred)).toBe(true);
    });
  }

  it("requestId finds the decision made under that X-Request-ID", async () => {
    const found = await search(`requestId=${viaApi.requestId}`);
    expect(found.map((r) => r.id)).toEqual([viaApi.id]);
  });

  it("policySetVersion, since and until narrow by version and time window (until exclusive)", async () => {
    expect(await search(`policySetVersion=${encodeURIComponent(ps().version)}`)).toHaveLength(6);
    expect(await search("policySetVersion=sha256:other")).toHaveLength(0);
    const since = new Date(base.getTime() + HOUR).toISOString();
    const until = new Date(base.getTime() + 3 * HOUR).toISOString();
    const found = await search(`since=${since}&until=${until}`);
    expect(found.map((r) => r.time)).toEqual([new Date(base.getTime() + 2 * HOUR).toISOString(), since]);
  });

  it("treats LIKE metacharacters and SQL in argument filters as plain text", async () => {
    expect(await search("arg.path=%25")).toHaveLength(0);
    expect(await search("arg.path=_etc")).toHaveLength(0);
    const injection = encodeURIComponent("'; DROP TABLE decisions; --");
    expect(await search(`arg.path=${injection}`)).toHaveLength(0);
    expect(await search(`arg.${injection}=x`)).toHaveLength(0);
    expect(await search(`arg.path=${encodeURIComponent('"')}`)).toHaveLength(0);
    const left = rowsOf<{ n: number }>(await t.db.database.db.execute(sql`SELECT count(*)::int AS n FROM decisions`));
    expect(left[0]!.n).toBe(6);
  });

  it("rejects malformed filters with a 400 that names them", async () => {
    for (const [q, msg] of [
      ["arg.=x", "arg."],
      ["arg.path..x=1", "arg.path..x"],
      ["arg.path=", "empty"],
      ["decision=maybe", "decision"],
      ["since=yesterday", "since"],
      ["cursor=nope", "cursor"],
    ]) {
      const res = await t.request(`/v1/decisions?${q}`);
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(msg);
    }
  });
});

describe("cursor pagination", () => {
  it("stays stable while new decisions arrive: no duplicate, nothing that existed skipped, strictly newest first", async () => {
    const before = (await search("")).map((r) => r.id);
    const seen: DecisionRecord[] = [];
    let cursor: string | null = null;
    let inserted = 0;
    do {
      // Between every two pages, 5 new decisions arrive concurrently with the next page read.
      const arrivals = Array.from({ length: 5 }, () =>
        recordToolCall(t.log, ps(), { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: `/srv/new/${inserted++}` } }),
      );
      const [res] = await Promise.all([t.request(`/v1/decisions?limit=2${cursor ? `&cursor=${cursor}` : ""}`), ...arrivals]);
      const page = (await res.json()) as { decisions: DecisionRecord[]; nextCursor: string | null };
      seen.push(...page.decisions);
      cursor = page.nextCursor;
    } while (cursor);
    const ids = seen.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of before) expect(ids).toContain(id);
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1]!, seen[i]!];
      expect(a.time > b.time || (a.time === b.time && a.id > b.id)).toBe(true);
    }
    expect(inserted).toBeGreaterThan(0);
  });
});

describe("GET /v1/decisions/stats", () => {
  it("counts allow and deny per hour bucket and lists the most denied tools, agents and users", async () => {
    const since = new Date(base.getTime() - (base.getTime() % HOUR)).toISOString();
    const until = new Date(base.getTime() + 5 * HOUR).toISOString();
    const res = await t.request(`/v1/decisions/stats?bucket=hour&since=${since}&until=${until}`);
    expect(res.status).toBe(200);
    const s = (await res.json()) as DecisionStats;
    expect(s.series.length).toBeGreaterThanOrEqual(5);
    expect(s.totals).toEqual({ allow: 3, deny: 2 });
    expect(s.series.reduce((n, b) => n + b.allow + b.deny, 0)).toBe(5);
    expect(s.series.find((b) => b.deny)?.time).toBe(new Date(base.getTime() + 2 * HOUR - (base.getTime() % HOUR)).toISOString());
    expect(s.tools[0]).toMatchObject({ deny: 1 });
    expect(s.agents[0]).toEqual({ agent: "code-assistant", allow: 1, deny: 2 });
    expect(s.users.find((u) => u.user === null)).toEqual({ user: null, allow: 1, deny: 1 });
  });

  it("applies the same filters, day buckets, and refuses an oversized window", async () => {
    const s = (await (await t.request("/v1/decisions/stats?bucket=day&agent=incident-bot")).json()) as DecisionStats;
    expect(s.series).toHaveLength(31);
    expect(s.totals.allow + s.totals.deny).toBeGreaterThanOrEqual(2);
    expect(s.agents.map((a) => a.agent)).toEqual(["incident-bot"]);
    const res = await t.request("/v1/decisions/stats?bucket=hour&since=2000-01-01T00:00:00Z");
    expect(res.status).toBe(400);
  });
});
