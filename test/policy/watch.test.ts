import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR } from "../helpers/app.js";
import { startVerdictProcess, type VerdictProcess } from "../helpers/cli.js";

let work: string;
let verdict: VerdictProcess;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "verdict-watch-"));
  cpSync(EXAMPLE_POLICY_DIR, join(work, "policies"), { recursive: true });
  cpSync(EXAMPLE_SCHEMA_DIR, join(work, "schema"), { recursive: true });
  verdict = await startVerdictProcess(
    { VERDICT_DATA_DIR: join(work, "data"), VERDICT_POLICY_DIR: join(work, "policies"), VERDICT_SCHEMA_DIR: join(work, "schema") },
    ["--watch"],
  );
});
afterAll(async () => {
  await verdict?.stop();
  rmSync(work, { recursive: true, force: true });
});

const reportBotRead = { agent: "report-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/q3.md" } };
const decide = async () => (await verdict.request("/v1/mcp/tools/call", { body: reportBotRead })).json();

/** Polls until `check` holds (at most 15 s). */
async function eventually<T>(get: () => Promise<T>, check: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const v = await get();
    if (check(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("verdict serve --watch", () => {
  let before: string;
  let reloaded: string;

  it("reloads the policy set when a policy file is saved", async () => {
    const first = await decide();
    expect(first.decision).toBe("deny");
    before = first.policySetVersion;
    writeFileSync(join(work, "policies", "reports.cedar"), `@id("allow-report-reads")\npermit (principal == Mcp::Agent::"report-bot", action == Mcp::Action::"filesystem/read_file", resource);\n`);
    const after = await eventually(decide, (d) => d.decision === "allow");
    expect(after).toMatchObject({ decision: "allow", reasons: ["allow-report-reads"] });
    expect(after.policySetVersion).not.toBe(before);
    reloaded = after.policySetVersion;
    expect(verdict.output()).toContain(`verdict: reloaded policy set ${reloaded}`);
  });

  it("keeps the old set and prints the errors with file:line:column when the saved set is invalid", async () => {
    writeFileSync(join(work, "policies", "reports.cedar"), `@id("allow-report-reads")\npermit (principal == Mcp::Agent::"report-bot", action, resource)\nwhen { context.input.nope };\n`);
    const out = await eventually(async () => verdict.output(), (o) => o.includes("keeping policy set"));
    expect(out).toMatch(/policies\/reports\.cedar:3:8 \[allow-report-reads\]: /);
    expect(out).toContain(`verdict: keeping policy set ${reloaded}`);
    expect(await decide()).toMatchObject({ decision: "allow", policySetVersion: reloaded });
  });

  it("picks up a fix to the broken file", async () => {
    writeFileSync(join(work, "policies", "reports.cedar"), "// report-bot has no grants any more\n");
    const d = await eventually(decide, (x) => x.decision === "deny");
    expect(d.decision).toBe("deny");
    expect(d.policySetVersion).not.toBe(reloaded);
  });
});
