/**
 * Large policy files are split in a short-lived worker thread (`splitPolicies` in
 * `src/cedar/policies.ts`, the worker in `src/cedar/split-worker.ts`) so the serving process does not keep the parse's wasm memory peak.
 * The worker must give exactly what the in-process split gives: the same policies, templates,
 * annotations and policy JSON in the same order, and the same parse errors at the same offsets.
 * And a file above the threshold must load into a policy set that decides like any other.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { splitPolicies } from "../../src/cedar/policies.js";
import { SPLIT_IN_WORKER_CHARS } from "../../src/cedar/split-worker.js";
import { CedarParseError } from "../../src/cedar/types.js";
import { loadPolicySet } from "../../src/policy/build.js";
import { evaluateToolCall } from "../../src/pdp/tool-call.js";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR } from "../helpers/app.js";

/** About 1,500 generated policies and templates with comments and strings: over the threshold. */
function largePolicyText(): string {
  const out: string[] = [];
  for (let i = 0; out.join("").length < SPLIT_IN_WORKER_CHARS * 1.2; i++) {
    out.push(
      i % 50 === 7
        ? `// template ${i}; with a semicolon in a comment\n@id("template-${i}")\npermit (principal == ?principal, action == Mcp::Action::"filesystem/read_file", resource == ?resource)\nwhen { context.input.path like "/srv/t${i}/*" };\n\n`
        : `@id("generated-${i}")\n@note("string with ; and \\"quotes\\" inside")\n${i % 9 === 0 ? "forbid" : "permit"} (\n  principal in Mcp::AgentGroup::"group-${i % 13}",\n  action in [Mcp::Action::"filesystem/write_file", Mcp::Action::"filesystem/edit_file"],\n  resource == Mcp::Server::"filesystem"\n)\nwhen { context.input.path like "/tmp/verdict-sandbox/${i}/*" };\n\n`,
    );
  }
  return out.join("");
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("splitting policy files in a worker", () => {
  const text = largePolicyText();

  it("gives exactly the in-process split, and is what a large file gets by default", () => {
    expect(text.length).toBeGreaterThanOrEqual(SPLIT_IN_WORKER_CHARS);
    const inProcess = splitPolicies(text, { inWorker: false });
    const inWorker = splitPolicies(text, { inWorker: true });
    expect(inProcess.length).toBeGreaterThan(1000);
    expect(inProcess.filter((p) => p.isTemplate).length).toBeGreaterThan(10);
    expect(inWorker).toEqual(inProcess);
    expect(splitPolicies(text)).toEqual(inProcess);
  });

  it("reports a parse error with the same message and offsets", () => {
    const broken = `${text}@id("broken")\npermit (principal, action, resource) when { context.input.path like "/srv/* };\n`;
    const issues = (inWorker: boolean) => {
      try {
        splitPolicies(broken, { inWorker });
      } catch (e) {
        expect(e).toBeInstanceOf(CedarParseError);
        return (e as CedarParseError).issues;
      }
      throw new Error("a broken file was split without an error");
    };
    const inProcess = issues(false);
    expect(inProcess.length).toBeGreaterThan(0);
    expect(inProcess[0]!.start).toBeGreaterThan(text.length - 1);
    expect(issues(true)).toEqual(inProcess);
  });

  it("loads a policy set with a file above the threshold, which then decides", () => {
    const dir = mkdtempSync(join(tmpdir(), "verdict-split-"));
    dirs.push(dir);
    cpSync(EXAMPLE_POLICY_DIR, join(dir, "policies"), { recursive: true });
    // the generated policies name groups the example entities do not have; they only add bulk
    writeFileSync(join(dir, "policies", "bulk.cedar"), text);
    const ps = loadPolicySet(join(dir, "policies"), EXAMPLE_SCHEMA_DIR);
    expect(ps.policies.size).toBeGreaterThan(1000);
    const answer = evaluateToolCall(ps, { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" } }, new Date());
    expect(answer.decision).toBe("allow");
    expect(answer.reasons).toEqual(["allow-file-reads"]);
    expect(readFileSync(join(dir, "policies", "bulk.cedar"), "utf8").length).toBeGreaterThanOrEqual(SPLIT_IN_WORKER_CHARS);
  });
});
