/**
 * The `verdict:*` reason codes are one enumeration (src/contract/reasons.ts): every code is
 * `verdict:<kebab-case>` and appears once, and no server module writes a code as a string of
 * its own. Sources are read with TypeScript's parser, so codes named in comments do not count.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { ENGINE_REASONS, IDENTITY_REASONS, REASONS, TOKEN_FAILURES, tokenRefusedReason } from "../../src/contract/reasons.js";

const ROOT = join(import.meta.dirname, "..", "..");
const CODE = /^verdict:[a-z]+(?:-[a-z]+)*$/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : name.endsWith(".ts") ? [full] : [];
  });
}

/** The text of every string and template literal of a TypeScript file (template parts one by one). */
function literals(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) out.push(node.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

describe("verdict:* reason codes", () => {
  it("are distinct codes of the form verdict:<kebab-case>, token refusals included", () => {
    const fixed = Object.values(REASONS);
    const tokens = TOKEN_FAILURES.flatMap((f) => [tokenRefusedReason("agent", f), tokenRefusedReason("user", f)]);
    const all = [...fixed, ...tokens];
    for (const code of all) expect(code).toMatch(CODE);
    expect(new Set(all).size).toBe(all.length);
    expect(tokenRefusedReason("agent", "expired")).toBe("verdict:agent-token-expired");
  });

  it("group the engine's and identity's codes out of the one enumeration", () => {
    expect([...ENGINE_REASONS].sort()).toEqual(["verdict:evaluation-failed", "verdict:forbid-errored", "verdict:no-permit"]);
    expect(IDENTITY_REASONS.has("verdict:user-token-bad-signature")).toBe(true);
    expect(IDENTITY_REASONS.has(REASONS.delegationMismatch)).toBe(true);
    expect(IDENTITY_REASONS.has(REASONS.unknownAgent)).toBe(false);
    expect(IDENTITY_REASONS.size).toBe(TOKEN_FAILURES.length * 2 + 5);
  });

  it("are written only in src/contract/reasons.ts: no other server module spells a code", () => {
    const spelled: string[] = [];
    for (const file of sourceFiles(join(ROOT, "src"))) {
      const path = relative(ROOT, file);
      if (path === join("src", "contract", "reasons.ts")) continue;
      for (const text of literals(file)) if (/(^|[^a-z])verdict:([a-z]|$)/.test(text)) spelled.push(`${path}: ${JSON.stringify(text)}`);
    }
    expect(spelled).toEqual([]);
  });
});
