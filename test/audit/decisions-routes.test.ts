import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecisionRecord } from "../../src/contract/decision-log.js";
import { recordHash } from "../../src/decision-log/record.js";
import { createTestApp, type TestApp } from "../helpers/app.js";

/** A clock the test moves: decision times are known to the millisecond. */
let clock = new Date("2026-03-02T09:00:00.000Z");
const tick = (ms = 1000) => {
  clock = new Date(clock.getTime() + ms);
};

let t: TestApp;
/** What the test made, newest last. */
const made: Array<Pick<DecisionRecord, "id" | "agent" | "user" | "server" | "tool" | "decision" | "reasons" | "time"> & { task: string | null }> = [];

async function decide(body: { agent: string; user?: string; server: string; tool: string; arguments?: unknown; task?: { id: string; kind?: string } }) {
  tick();
  const answer = await (await t.request("/v1/mcp/tools/call", { body })).json();
  made.push({
    id: answer.decisionId,
    agent: body.agent,
    user: body.user ?? null,
    server: body.server,
    tool: body.tool,
    decision: answer.decision,
    reasons: answer.reasons,
    task: body.task?.id ?? null,
    time: clock.toISOString(),
  });
  return answer;
}

const newestFirst = (list: typeof made) => [...list].sort((a, b) => (a.time === b.time ? (a.id < b.id ? 1 : -1) : a.time < b.time ? 1 : -1)).map((d) => d.id);

async function page(query: string): Promise<{ decisions: DecisionRecord[]; nextCursor: string | null }> {
  const res = await t.request(`/v1/decisions${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

/** Follows nextCursor to the end; returns every id in order. */
async function all(query: string, from: string | null = null): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor = from;
  let pages = 0;
  const sep = query ? "&" : "?";
  do {
    const p = await page(`${query}${cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : ""}`);
    ids.push(...p.decisions.map((d) => d.id));
    cursor = p.nextCursor;
    pages++;
  } while (cursor && pages < 100);
  return { ids, pages };
}

beforeAll(async () => {
  t = await createTestApp({ now: () => clock });
  const fs = { server: "filesystem" };
  for (let round = 0; round < 3; round++) {
    await decide({ agent: "incident-bot", user: "alice", ...fs, tool: "read_file", arguments: { path: "/srv/runbooks/db.md" }, task: { id: "INC-1", kind: "incident" } });
    await decide({ agent: "code-assistant", user: "bob", ...fs, tool: "write_file", arguments: { path: "/tmp/verdict-sandbox/a", content: "x" }, task: { id: "T-1" } });
    await decide({ agent: "code-assistant", user: "bob", ...fs, tool: "write_file", arguments: { path: "/etc/passwd", content: "x" }, task: { id: "T-1" } });
    await decide({ agent: "code-assistant", server: "everything", tool: "get-env", arguments: {} });
    await decide({ agent: "incident-bot", user: "alice", server: "memory", tool: "read_graph", arguments: {}, task: { id: "INC-1", kind: "incident" } });
    await decide({ agent: "report-bot", ...fs, tool: "read_file", arguments: { path: "/srv/reports/q3.md" } });
    await decide({ agent: "incident-bot", user: "mallory", server: "memory", tool: "create_entities", arguments: { entities: [] }, task: { id: "INC-2", kind: "incident" } });
  }
});
afterAll(async () => {
  await t.close();
});

describe("GET /v1/decisions", () => {
  it("lists every decision newest first, with every record field", async () => {
    const p = await page("?limit=1000");
    expect(p.decisions.map((d) => d.id)).toEqual(newestFirst(made));
    expect(p.nextCursor).toBeNull();
    expect(Object.keys(p.decisions[0]!).sort()).toEqual(
      [
        "id", "time", "kind", "agent", "user", "delegation", "server", "tool", "action", "arguments", "argumentsSha256", "task",
        "decision", "reasons", "errors", "obligations", "message", "policySetVersion", "caller", "requestId", "evaluationMicros",
        "request", "stream", "seq", "prevHash", "hash", "identity", "credentialJti", "traceId",
      ].sort(),
    );
  });

  const filters: Array<[string, string, (d: (typeof made)[number]) => boolean]> = [
    ["agent", "agent=code-assistant", (d) => d.agent === "code-assistant"],
    ["user", "user=alice", (d) => d.user === "alice"],
    ["server", "server=memory", (d) => d.server === "memory"],
    ["tool", "tool=write_file", (d) => d.tool === "write_file"],
    ["decision", "decision=deny", (d) => d.decision === "deny"],
    ["task", "task=INC-1", (d) => d.task === "INC-1"],
    ["policy", "policy=forbid-writes-outside-sandbox", (d) => d.reasons.includes("forbid-writes-outside-sandbox")],
    ["policy (Verdict's own check)", "policy=verdict:unknown-user", (d) => d.reasons.includes("verdict:unknown-user")],
    ["since", "since=2026-03-02T09:00:08.000Z", (d) => d.time >= "2026-03-02T09:00:08.000Z"],
    ["until (exclusive)", "until=2026-03-02T09:00:08.000Z", (d) => d.time < "2026-03-02T09:00:08.000Z"],
    ["since and until with an offset", "since=2026-03-02T10:00:05%2B01:00&until=2026-03-02T10:00:15%2B01:00", (d) => d.time >= "2026-03-02T09:00:05.000Z" && d.time < "2026-03-02T09:00:15.000Z"],
    ["several filters at once", "agent=incident-bot&decision=allow&server=filesystem", (d) => d.agent === "incident-bot" && d.decision === "allow" && d.server === "filesystem"],
  ];
  it.each(filters)("filters by %s", async (_name, query, keep) => {
    const expected = newestFirst(made.filter(keep));
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(made.length);
    expect((await page(`?${query}&limit=1000`)).decisions.map((d) => d.id)).toEqual(expected);
  });

  it("limits a page and says when there is no more", async () => {
    const p = await page("?limit=5");
    expect(p.decisions.map((d) => d.id)).toEqual(newestFirst(made).slice(0, 5));
    expect(p.nextCursor).toEqual(expect.any(String));
    const q = await page("?limit=50");
    expect(p.decisions.length).toBe(5);
    expect(q.nextCursor).toBeNull();
  });

  it("pages with a cursor across pages without duplicates or gaps", async () => {
    for (const limit of [1, 4, 7, 21]) {
      const { ids, pages } = await all(`?limit=${limit}`);
      expect(ids).toEqual(newestFirst(made));
      expect(pages).toBe(Math.ceil(made.length / limit));
    }
    const filtered = await all("?decision=deny&limit=2");
    expect(filtered.ids).toEqual(newestFirst(made.filter((d) => d.decision === "deny")));
  });

  it("keeps pages stable while new decisions arrive, and breaks ties at the same instant by id", async () => {
    const before = newestFirst(made);
    const first = await page("?limit=3&agent=code-assistant");
    // A batch at one instant: every record has the same time.
    tick();
    const req = { principal: { type: "Mcp::Agent", id: "code-assistant" }, action: { type: "Mcp::Action", id: "everything/echo" }, resource: { type: "Mcp::Server", id: "everything" }, context: { input: { message: "x" }, session: { requestTime: 1, hourUtc: 1, weekdayUtc: 1 } } };
    const { results } = await (await t.request("/v1/authorize/batch", { body: { requests: Array.from({ length: 9 }, () => req) } })).json();
    for (const r of results) made.push({ id: r.decisionId, agent: "code-assistant", user: null, server: "everything", tool: "echo", decision: r.decision, reasons: r.reasons, task: null, time: clock.toISOString() });
    const rest = await all("?agent=code-assistant&limit=3", first.nextCursor);
    const codeAssistant = before.filter((id) => made.find((d) => d.id === id)!.agent === "code-assistant");
    expect([...first.decisions.map((d) => d.id), ...rest.ids]).toEqual(codeAssistant);
    // The same-instant batch pages cleanly too.
    const sameInstant = await all(`?since=${encodeURIComponent(clock.toISOString())}&limit=2`);
    expect(sameInstant.ids).toEqual(newestFirst(made.filter((d) => d.time === clock.toISOString())));
    expect(sameInstant.ids.length).toBe(9);
  });

  it.each([
    ["limit=0", "limit"],
    ["limit=1001", "limit"],
    ["limit=ten", "limit"],
    ["decision=maybe", "decision"],
    ["since=yesterday", "since"],
    ["until=2026-03-02", "until"],
  ])("answers %s with a 400 naming the parameter", async (query, name) => {
    const res = await t.request(`/v1/decisions?${query}`);
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toContain(`${name}:`);
  });

  it("answers a cursor it did not issue with a 400", async () => {
    for (const cursor of ["garbage", Buffer.from('["not a time","x"]').toString("base64url"), Buffer.from("[1]").toString("base64url")]) {
      const res = await t.request(`/v1/decisions?cursor=${cursor}`);
      expect(res.status).toBe(400);
      expect((await res.json()).error.message).toBe("cursor is not one this server issued");
    }
  });
});

describe("GET /v1/decisions/{id}", () => {
  it("returns one record", async () => {
    const target = made[3]!;
    const rec = await (await t.request(`/v1/decisions/${target.id}`)).json();
    expect(rec).toMatchObject({ id: target.id, agent: target.agent, tool: target.tool, decision: target.decision, time: target.time });
    const upper = await t.request(`/v1/decisions/${target.id.toUpperCase()}`);
    expect((await upper.json()).id).toBe(target.id);
  });

  it("answers an unknown id with a 404 and a malformed one with a 400", async () => {
    const missing = await t.request("/v1/decisions/01900000-0000-7000-8000-000000000000");
    expect(missing.status).toBe(404);
    expect((await missing.json()).error.code).toBe("not_found");
    const bad = await t.request("/v1/decisions/not-a-uuid");
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toContain("not-a-uuid");
  });
});

describe("group commit and the hash chain", () => {
  it("batches concurrent decisions into shared INSERTs and keeps each stream's chain continuous", async () => {
    const stats = { ...t.log.stats };
    const bodies = Array.from({ length: 50 }, (_, i) => ({
      agent: i % 2 ? "incident-bot" : "code-assistant",
      server: "filesystem",
      tool: "read_file",
      arguments: { path: `/srv/concurrent/${i}.md` },
    }));
    const answers = await Promise.all(bodies.map((body) => t.request("/v1/mcp/tools/call", { body }).then((r) => r.json())));
    expect(answers.every((a) => a.decision === "allow")).toBe(true);
    const batches = t.log.stats.batches - stats.batches;
    expect(t.log.stats.recorded - stats.recorded).toBe(50);
    expect(t.log.stats.largestBatch).toBeGreaterThan(1);
    expect(batches).toBeLessThan(50);

    const { decisions } = await page("?limit=1000");
    for (const a of answers) expect(decisions.some((d) => d.id === a.decisionId)).toBe(true);
    const byStream = new Map<string, DecisionRecord[]>();
    for (const d of decisions) byStream.set(d.stream, [...(byStream.get(d.stream) ?? []), d]);
    for (const records of byStream.values()) {
      records.sort((a, b) => a.seq - b.seq);
      records.forEach((r, i) => {
        expect(r.seq).toBe(i + 1);
        expect(r.prevHash).toBe(i === 0 ? null : records[i - 1]!.hash);
        const { hash, ...rest } = r;
        expect(recordHash(rest)).toBe(hash);
      });
    }
    expect(decisions.length).toBe(made.length + 50);
  });

  it("detects a record altered after the fact", async () => {
    const { decisions } = await page("?limit=1");
    const { hash, ...rest } = decisions[0]!;
    expect(recordHash({ ...rest, decision: rest.decision === "allow" ? "deny" : "allow" })).not.toBe(hash);
  });
});
