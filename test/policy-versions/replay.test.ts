import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSources } from "../../src/policy/sources.js";
import { createTestApp, EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, examplePolicySet, type TestApp } from "../helpers/app.js";
import { CANDIDATE_POLICIES, expectedFlips, insertSyntheticDecisions } from "../helpers/synthetic-decisions.js";

const COUNT = 100_000;
const START = new Date("2026-06-01T00:00:00Z");
const at = (i: number) => new Date(START.getTime() + i * 1000).toISOString();

let t: TestApp;
let candidate: string;
beforeAll(async () => {
  t = await createTestApp();
  const began = performance.now();
  await insertSyntheticDecisions(t.db.database.db, { count: COUNT, start: START, version: examplePolicySet().version });
  console.log(`inserted ${COUNT} recorded decisions in ${((performance.now() - began) / 1000).toFixed(1)} s`);
  const base = readSources(EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR);
  await t.request("/v1/policy-sets", { body: { sources: base } });
  const res = await t.request("/v1/policy-sets", { body: { sources: { ...base, policies: { ...base.policies, "candidate.cedar": CANDIDATE_POLICIES } } } });
  candidate = (await res.json()).version;
});
afterAll(async () => {
  await t.close();
});

describe("POST /v1/policy-sets/{version}/replay", () => {
  it("replaying the version that made the decisions flips none of them", async () => {
    const report = await (await t.request(`/v1/policy-sets/${examplePolicySet().version}/replay`, { body: { since: at(1), until: at(10_001) } })).json();
    expect(report).toMatchObject({ replayed: 10_000, unchanged: 10_000, flips: { allowToDeny: 0, denyToAllow: 0 }, byTool: [], byAgent: [] });
  });

  it(`reports exactly the flips the candidate causes over ${COUNT} decisions`, async () => {
    const report = await (await t.request(`/v1/policy-sets/${candidate}/replay`, { body: { examples: 3 } })).json();
    console.log(`replayed ${report.replayed} decisions in ${report.durationMs} ms: ${report.perSecond} decisions/s`);
    const want = expectedFlips(1, COUNT);
    expect(want).toEqual({ allowToDeny: 20_000, denyToAllow: 10_000 });
    expect(report).toMatchObject({ candidate, replayed: COUNT, unchanged: COUNT - 30_000, flips: want });
    expect(report.byTool).toEqual([
      { server: "memory", tool: "read_graph", allowToDeny: 20_000, denyToAllow: 0 },
      { server: "filesystem", tool: "read_file", allowToDeny: 0, denyToAllow: 10_000 },
    ]);
    expect(report.byAgent).toEqual([
      { agent: "incident-bot", allowToDeny: 20_000, denyToAllow: 0 },
      { agent: "report-bot", allowToDeny: 0, denyToAllow: 10_000 },
    ]);
    expect(report.examples.allowToDeny).toHaveLength(3);
    expect(report.examples.allowToDeny[0]).toMatchObject({
      agent: "incident-bot",
      tool: "read_graph",
      time: at(1),
      recorded: { decision: "allow", reasons: ["allow-memory-reads"] },
      candidate: { decision: "deny", reasons: ["no-graph-for-incident-bot"] },
    });
    expect(report.examples.denyToAllow[0]).toMatchObject({ agent: "report-bot", time: at(2), candidate: { decision: "allow", reasons: ["report-bot-reads-reports"] } });
  }, 600_000);

  it("limits the replay to a time range, and streams progress when asked", async () => {
    const res = await t.request(`/v1/policy-sets/${candidate}/replay`, {
      body: { since: at(20_001), until: at(30_001) },
      headers: { accept: "application/x-ndjson" },
    });
    expect(res.headers.get("content-type")).toContain("application/x-ndjson");
    const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    const progress = lines.filter((l) => l.progress).map((l) => l.progress);
    expect(progress.length).toBeGreaterThanOrEqual(5);
    expect(progress.at(-1)).toMatchObject({ replayed: 10_000, total: 10_000 });
    const report = lines.at(-1).report;
    expect(report).toMatchObject({ replayed: 10_000, flips: expectedFlips(20_001, 30_000) });
  });

  it("rejects a malformed time range", async () => {
    expect((await t.request(`/v1/policy-sets/${candidate}/replay`, { body: { since: "yesterday" } })).status).toBe(400);
  });
});
