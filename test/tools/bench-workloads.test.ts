/**
 * The two workloads of `npm run bench` (tools/bench/workload.ts) are what docs/performance.md
 * says they are: `task-shaped` tasks of 20 calls (12 reads over 4 paths, each read three times
 * alike; 6 writes with distinct contents over 2 paths; 2 calls the policies deny), 200 under way
 * at once and interleaved; `all-distinct` questions no two of which are alike for the engine.
 * Decided by Verdict's own evaluation on the workload's rules.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateWorkload, taskShapedQuestions, writeWorkload, type Question } from "../../tools/bench/workload.js";
import { evaluateToolCall } from "../../src/pdp/tool-call.js";
import { loadPolicySet } from "../../src/policy/build.js";
import { ROOT } from "../helpers/app.js";

const dir = mkdtempSync(join(tmpdir(), "verdict-bench-workloads-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const w = generateWorkload({});
const { policyDir, schemaDir } = writeWorkload(w, dir, join(ROOT, "schema", "mcp.cedarschema"));
const ps = loadPolicySet(policyDir, schemaDir);
const now = new Date("2026-03-04T10:00:00Z");

describe("task-shaped", () => {
  const { questions, repeats } = taskShapedQuestions(w, { calls: 6000 });
  const byTask = new Map<string, Question[]>();
  for (const q of questions) byTask.set(q.task!.id, [...(byTask.get(q.task!.id) ?? []), q]);
  const complete = [...byTask.values()].filter((calls) => calls.length === 20);

  it("has tasks of 20 calls by one agent for one user on one server: 12 reads over 4 paths, 6 distinct writes over 2 paths, 2 denied", () => {
    expect(complete.length).toBeGreaterThan(100);
    for (const calls of complete) {
      expect(new Set(calls.map((q) => JSON.stringify([q.agent, q.user, q.server]))).size).toBe(1);
      const decided = calls.map((q) => ({ q, e: evaluateToolCall(ps, q, now) }));
      const kind = (q: Question) => q.tool.split("_")[0]!;
      const allowed = decided.filter((d) => d.e.decision === "allow");
      const reads = allowed.filter((d) => ["read", "get"].includes(kind(d.q)));
      const writes = allowed.filter((d) => ["create", "update"].includes(kind(d.q)));
      expect([reads.length, writes.length, decided.length - allowed.length]).toEqual([12, 6, 2]);
      const readTexts = reads.map((d) => JSON.stringify(d.q));
      expect(new Set(readTexts).size).toBe(4);
      for (const t of new Set(readTexts)) expect(readTexts.filter((x) => x === t).length).toBe(3);
      expect(new Set(writes.map((d) => (d.q.arguments as { path: string }).path)).size).toBe(2);
      expect(new Set(writes.map((d) => (d.q.arguments as { content: string }).content)).size).toBe(6);
      expect(decided.filter((d) => d.e.decision === "deny").every((d) => d.e.reasons[0]!.startsWith("forbid-"))).toBe(true);
    }
  });

  it("interleaves 200 tasks at a time, and repeats no call of another task", () => {
    // the first 200 calls come from many tasks, not one after the other
    expect(new Set(questions.slice(0, 200).map((q) => q.task!.id)).size).toBeGreaterThan(100);
    expect(new Set(questions.slice(0, 2000).map((q) => q.task!.id)).size).toBeLessThanOrEqual(200 + 2000 / 20);
    // the only exact repeats are each task's own reads: 8 of 20
    expect(repeats).toBeGreaterThan(0.3 * questions.length);
    expect(repeats).toBeLessThanOrEqual(0.4 * questions.length);
  });
});

describe("all-distinct", () => {
  it("has no two questions with the same agent, user, server and tool", () => {
    const { questions } = generateWorkload({ distinct: true, questions: 5000 });
    expect(questions.length).toBe(5000);
    expect(new Set(questions.map((q) => JSON.stringify([q.agent, q.user ?? null, q.server, q.tool]))).size).toBe(5000);
    // still the generator's mix of answers
    const allows = questions.slice(0, 500).filter((q) => evaluateToolCall(ps, q, now).decision === "allow").length;
    expect(allows).toBeGreaterThan(150);
    expect(allows).toBeLessThan(450);
  });
});
