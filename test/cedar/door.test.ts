/**
 * `src/cedar/` is the only door to the Cedar engine (STYLE.md "The wasm engine sits behind one
 * small interface, in one module"): no module elsewhere in the server, the tools or the packages
 * imports `@cedar-policy/cedar-wasm`, and inside `src/cedar/` only `wasm.ts` does, so the V8
 * setting it needs is made wherever the engine is loaded. Imports are read with TypeScript's
 * parser (static, dynamic and `require`).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (name === "node_modules" || name === "dist") return [];
    const full = join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : /\.(ts|mts|cts)$/.test(name) ? [full] : [];
  });
}

/** Module specifiers a file imports: `import`/`export ... from`, `import(...)` and `require(...)`. */
function specifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) out.push(node.moduleSpecifier.text);
    if (ts.isCallExpression(node) && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === "require")) out.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

describe("the Cedar door", () => {
  it("only src/cedar/wasm.ts imports @cedar-policy/cedar-wasm", () => {
    const importers = ["src", "tools", "packages"]
      .flatMap((dir) => sourceFiles(join(ROOT, dir)))
      .filter((file) => specifiers(file).some((s) => s.startsWith("@cedar-policy/cedar-wasm")))
      .map((file) => relative(ROOT, file).split("\\").join("/"));
    expect(importers).toEqual(["src/cedar/wasm.ts"]);
  });
});
