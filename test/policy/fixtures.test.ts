import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FixtureError, loadFixtures, runFixtures } from "../../src/policy/fixtures.js";
import { EXAMPLE_POLICY_DIR, examplePolicySet } from "../helpers/app.js";

const now = new Date("2026-03-02T10:00:00Z");
const scratch = mkdtempSync(join(tmpdir(), "verdict-fixtures-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function writeFixture(dir: string, folder: "ALLOW" | "DENY", name: string, content: unknown): void {
  mkdirSync(join(dir, folder), { recursive: true });
  writeFileSync(join(dir, folder, `${name}.json`), typeof content === "string" ? content : JSON.stringify(content));
}

describe("the example policy set's ALLOW/DENY fixtures", () => {
  const fixtures = loadFixtures(EXAMPLE_POLICY_DIR);
  const results = runFixtures(examplePolicySet(), fixtures, now);

  it("all pass", () => {
    const failures = results.filter((r) => !r.passed).map((r) => `${r.fixture.file}: ${r.problems.join("; ")}`);
    expect(failures).toEqual([]);
    expect(fixtures.filter((f) => f.decision === "allow").length).toBeGreaterThanOrEqual(10);
    expect(fixtures.filter((f) => f.decision === "deny").length).toBeGreaterThanOrEqual(20);
  });

  it("name every policy of the set as a determining policy at least once", () => {
    const named = new Set(fixtures.flatMap((f) => f.reasons ?? []));
    const policyIds = [...examplePolicySet().policies.keys()];
    expect(policyIds.filter((id) => !named.has(id))).toEqual([]);
  });

  it("cover Verdict's own checks and the default deny", () => {
    const named = new Set(fixtures.flatMap((f) => f.reasons ?? []));
    for (const check of ["unknown-agent", "unknown-user", "unknown-server", "unknown-tool", "arguments-invalid"]) {
      expect(named).toContain(`verdict:${check}`);
    }
    expect(fixtures.some((f) => f.decision === "deny" && f.reasons?.length === 1 && f.reasons[0] === "verdict:no-permit")).toBe(true);
  });
});

describe("runFixtures", () => {
  it("reads reasons [] (the default deny before verdict:no-permit) as [verdict:no-permit]", () => {
    const dir = join(scratch, "legacy-empty-reasons");
    const call = { agent: "report-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" } };
    writeFixture(dir, "DENY", "default-deny", { description: "no permit for report-bot", call, reasons: [] });
    const [result] = runFixtures(examplePolicySet(), loadFixtures(dir), now);
    expect(result!.fixture.reasons).toEqual(["verdict:no-permit"]);
    expect(result!.actual).toMatchObject({ decision: "deny", reasons: ["verdict:no-permit"], message: "denied: no policy permits this call" });
    expect(result!.passed).toBe(true);
  });

  it("reports a fixture whose expectation is wrong as failing, with expected and actual", () => {
    const dir = join(scratch, "wrong");
    const call = { agent: "code-assistant", server: "everything", tool: "get-env", arguments: {} };
    writeFixture(dir, "ALLOW", "get-env-allowed", { description: "wrong on purpose", call });
    writeFixture(dir, "DENY", "get-env-wrong-reason", { description: "right decision, wrong reason", call, reasons: ["allow-file-reads"] });
    writeFixture(dir, "DENY", "get-env-denied", { description: "right", call, reasons: ["forbid-get-env"] });
    const results = runFixtures(examplePolicySet(), loadFixtures(dir), now);
    expect(results.map((r) => [r.fixture.name, r.passed])).toEqual([
      ["get-env-allowed", false],
      ["get-env-denied", true],
      ["get-env-wrong-reason", false],
    ]);
    const [allowed, , wrongReason] = results;
    expect(allowed!.expected).toEqual({ decision: "allow" });
    expect(allowed!.actual).toMatchObject({ decision: "deny", reasons: ["forbid-get-env"] });
    expect(allowed!.problems[0]).toContain("expected allow, got deny");
    expect(wrongReason!.expected).toEqual({ decision: "deny", reasons: ["allow-file-reads"] });
    expect(wrongReason!.problems).toEqual(["expected reasons [allow-file-reads], got [forbid-get-env]"]);
  });

  it("compares reasons as a set and leaves them unchecked when a fixture gives none", () => {
    const dir = join(scratch, "sets");
    const call = {
      agent: "code-assistant",
      user: "bob",
      server: "filesystem",
      tool: "write_file",
      arguments: { path: "/etc/../etc/passwd", content: "x" },
      task: { id: "T-1" },
    };
    writeFixture(dir, "DENY", "both-forbids", { description: "two forbids", call, reasons: ["forbid-writes-outside-sandbox", "forbid-path-traversal"] });
    writeFixture(dir, "DENY", "no-reasons", { description: "decision only", call });
    const results = runFixtures(examplePolicySet(), loadFixtures(dir), now);
    expect(results.map((r) => r.passed)).toEqual([true, true]);
    expect(results[0]!.actual.reasons.sort()).toEqual(["forbid-path-traversal", "forbid-writes-outside-sandbox"]);
  });

  it("refuses a fixture file that is not a fixture, naming the file and the field", () => {
    const dir = join(scratch, "bad");
    writeFixture(dir, "DENY", "no-agent", { description: "x", call: { server: "filesystem", tool: "read_file" } });
    expect(() => loadFixtures(dir)).toThrow(FixtureError);
    expect(() => loadFixtures(dir)).toThrow(/no-agent\.json: call\.agent/);
    const dir3 = join(scratch, "typo");
    writeFixture(dir3, "DENY", "typo", { description: "x", call: { agent: "a", server: "s", tool: "t", argument: {} } });
    expect(() => loadFixtures(dir3)).toThrow(/typo\.json: call: Unrecognized key: "argument"/);
    const dir2 = join(scratch, "bad-json");
    writeFixture(dir2, "ALLOW", "broken", "{ not json");
    expect(() => loadFixtures(dir2)).toThrow(/broken\.json/);
  });

  it("finds nothing in a directory without ALLOW or DENY", () => {
    expect(loadFixtures(join(scratch, "empty-nothing-here"))).toEqual([]);
  });
});
