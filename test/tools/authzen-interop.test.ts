/**
 * The AuthZEN interop decision files, replayed over real HTTP against real Verdict servers: one
 * serving `examples/authzen-interop` (must pass every case), one serving an allow-all policy set
 * with the same schema and entities (must fail every case that expects a deny: the runner can fail).
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { interopFiles, readDecisionFile, runInteropFile, toAuthzen10, formatReport } from "../../tools/authzen-interop.js";
import { ROOT, TEST_ADMIN_KEY } from "../helpers/app.js";
import { startTestVerdict } from "../helpers/verdict.js";

const HEADERS = { authorization: `Bearer ${TEST_ADMIN_KEY}` };
const INTEROP_DIR = join(ROOT, "examples", "authzen-interop");

/** Verdict serving the policy set (schema and policies) in `dir`, over a database of its own. */
const verdictServing = (dir: string) => startTestVerdict({ policyDir: dir, schemaDir: dir });

const files = interopFiles();
let verdict: Awaited<ReturnType<typeof verdictServing>>;
let allowAll: Awaited<ReturnType<typeof verdictServing>>;
let allowAllDir: string;

beforeAll(async () => {
  allowAllDir = mkdtempSync(join(tmpdir(), "verdict-allow-all-"));
  for (const f of readdirSync(INTEROP_DIR).filter((n) => n.endsWith(".cedarschema") || n === "entities.json")) {
    copyFileSync(join(INTEROP_DIR, f), join(allowAllDir, f));
  }
  writeFileSync(join(allowAllDir, "allow-all.cedar"), '@id("allow-all")\npermit (principal, action, resource);\n');
  [verdict, allowAll] = await Promise.all([verdictServing(INTEROP_DIR), verdictServing(allowAllDir)]);
});
afterAll(async () => {
  await Promise.all([verdict?.dispose(), allowAll?.dispose()]);
  rmSync(allowAllDir, { recursive: true, force: true });
});

describe("AuthZEN interop decision files against Verdict", () => {
  it.each([
    ["Todo 1_0-00", files.todo[0]!, 40],
    ["Todo 1_0-01", files.todo[1]!, 40],
    ["Todo 1_0-02", files.todo[2]!, 43],
    ["API gateway", files.gateway, 25],
  ])("%s: every case passes", async (_name, file, total) => {
    const report = await runInteropFile(verdict.server.url, file, HEADERS);
    console.log(formatReport(report));
    expect(report.results.filter((r) => r.status !== "PASS").map((r) => `${r.status} ${JSON.stringify(r.sent)}: ${r.error ?? JSON.stringify(r.actual)}`)).toEqual([]);
    expect(report).toMatchObject({ total, passed: total, failed: 0 });
  });

  it("every decision the runner asked for was recorded", async () => {
    const res = await fetch(`${verdict.server.url}/v1/decisions?limit=1000`, { headers: HEADERS });
    const page = (await res.json()) as { decisions: unknown[] };
    // 40 + 40 + 40 single cases, 3 batches of 2, 25 gateway cases.
    expect(page.decisions).toHaveLength(40 + 40 + 40 + 3 * 2 + 25);
  });
});

describe("the runner can fail", () => {
  it.each([
    ["Todo 1_0-01", files.todo[1]!],
    ["Todo 1_0-02", files.todo[2]!],
    ["API gateway", files.gateway],
  ])("%s against an allow-all policy set fails exactly the cases that expect a deny", async (_name, file) => {
    const cases = readDecisionFile(file);
    const expectingDeny = cases.filter((c) => JSON.stringify(c.expected).includes("false")).length;
    expect(expectingDeny).toBeGreaterThan(0);
    const report = await runInteropFile(allowAll.server.url, file, HEADERS);
    expect(report.failed).toBe(expectingDeny);
    expect(report.passed).toBe(cases.length - expectingDeny);
  });

  it("reports an unreachable PDP as errors, not passes", async () => {
    const report = await runInteropFile("http://127.0.0.1:9", files.gateway, HEADERS);
    expect(report.passed).toBe(0);
    expect(report.results.every((r) => r.status === "ERROR")).toBe(true);
  });
});

describe("the 1_0-00 translation", () => {
  it("moves subject.identity to subject.id and resource attributes into properties", () => {
    expect(
      toAuthzen10({
        subject: { type: "user", id: "rick@the-citadel.com", identity: "PID" },
        action: { name: "can_update_todo" },
        resource: { type: "todo", id: "t1", ownerID: "rick@the-citadel.com" },
      }),
    ).toEqual({
      subject: { type: "user", id: "PID" },
      action: { name: "can_update_todo" },
      resource: { type: "todo", id: "t1", properties: { ownerID: "rick@the-citadel.com" } },
    });
  });

  it("leaves AuthZEN 1.0 requests unchanged", () => {
    const request = { subject: { type: "user", id: "PID" }, action: { name: "x" }, resource: { type: "todo", id: "t", properties: { ownerID: "o" } } };
    expect(toAuthzen10(request)).toBe(request);
  });
});
