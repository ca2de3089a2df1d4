/**
 * The import rules of the tree (`.dependency-cruiser.cjs`), checked with dependency-cruiser over
 * `src/` and `packages/`: no import circle, no route importing `src/http/app.ts`, a decision log
 * that imports nothing from `src/pdp/`, `src/http/` or hono, packages without server code, a
 * runtime without tools or tests, `packages/` reached only through `src/contract/`. So that a
 * passing check means something, the same configuration runs over a small tree that breaks
 * every rule once, and must name each break.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "./helpers/app.js";

const CONFIG = join(ROOT, ".dependency-cruiser.cjs");
const DEPCRUISE = join(ROOT, "node_modules", ".bin", "depcruise");

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

interface CruiseResult {
  modules: { source: string }[];
  summary: { violations: Violation[]; totalCruised: number };
}

/** Runs the cruiser with the repository's configuration over `paths` of `cwd` (JSON report). */
async function cruise(cwd: string, paths: string[]): Promise<CruiseResult> {
  const { stdout } = await promisify(execFile)(DEPCRUISE, [...paths, "--config", CONFIG, "--output-type", "json"], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  }).catch((e: { stdout?: string }) => {
    // The cruiser exits non-zero when it finds violations; the report is still on stdout.
    if (e.stdout) return { stdout: e.stdout };
    throw e;
  });
  return JSON.parse(stdout) as CruiseResult;
}

const broken = (r: CruiseResult) => r.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();

describe("the import graph", () => {
  it("of src/ and packages/ keeps every rule", async () => {
    const result = await cruise(ROOT, ["src", "packages"]);
    // The cruise read the tree: the composition root, the app, the decision path, the packages.
    const sources = result.modules.map((m) => m.source);
    for (const f of ["src/server.ts", "src/http/app.ts", "src/http/deps.ts", "src/pdp/decide.ts", "src/decision-log/writer.ts", "src/decision-log/row.ts"]) {
      expect(sources).toContain(f);
    }
    expect(sources.some((s) => s.startsWith("packages/sdk/src/"))).toBe(true);
    expect(result.summary.totalCruised).toBeGreaterThan(100);
    expect(broken(result)).toEqual([]);
  }, 120_000);

  describe("rules that fail", () => {
    const dir = mkdtempSync(join(tmpdir(), "verdict-deps-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const file = (path: string, text: string) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    };

    it("name each break in a tree that breaks every rule once", async () => {
      // hono resolves as in the repository.
      symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
      file("tsconfig.json", JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", strict: true } }));
      file("package.json", JSON.stringify({ type: "module" }));
      // A circle.
      file("src/a.ts", 'import { b } from "./b.js";\nexport const a = () => b;\n');
      file("src/b.ts", 'import { a } from "./a.js";\nexport const b = () => a;\n');
      // The composition root may import the app; a route may not.
      file("src/http/app.ts", "export const createApp = () => 1;\n");
      file("src/http/deps.ts", "export type AppDeps = { now: () => Date };\n");
      file("src/server.ts", 'import { createApp } from "./http/app.js";\ncreateApp();\n');
      file("src/pdp/routes.ts", 'import type { createApp } from "../http/app.js";\nimport type { AppDeps } from "../http/deps.js";\nexport type T = [typeof createApp, AppDeps];\n');
      // The decision log reaching up into the PDP, the HTTP layer and hono.
      file("src/pdp/evaluation.ts", "export interface Evaluation { decision: string }\n");
      file(
        "src/decision-log/record.ts",
        'import type { Evaluation } from "../pdp/evaluation.js";\nimport type { AppDeps } from "../http/deps.js";\nimport type { Context } from "hono";\nexport type R = [Evaluation, AppDeps, Context];\n',
      );
      // A package importing the server; the contract may import a package, nothing else in src/ may.
      file("packages/sdk/src/index.ts", 'import { a } from "../../../src/a.js";\nexport const sdk = a;\n');
      file("packages/sdk/src/wire.ts", "export const wire = 1;\n");
      file("src/contract/wire.ts", 'export { wire } from "../../packages/sdk/src/wire.js";\n');
      file("src/cli/client.ts", 'import { wire } from "../../packages/sdk/src/wire.js";\nexport const c = wire;\n');
      // The runtime importing a tool and a test helper; an import that resolves nowhere.
      file("tools/bench.ts", "export const bench = 1;\n");
      file("test/helpers/app.ts", "export const helper = 1;\n");
      file("src/uses-tools.ts", 'import { bench } from "../tools/bench.js";\nimport { helper } from "../test/helpers/app.js";\nimport { gone } from "./gone.js";\nexport const u = [bench, helper, gone];\n');

      const result = await cruise(dir, ["src", "packages"]);
      // hono resolves through the link, to the repository's node_modules.
      const hono = result.summary.violations.filter((v) => v.rule.name === "decision-log-below-the-pdp" && /node_modules\/hono\//.test(v.to));
      expect(hono.map((v) => v.from)).toEqual(["src/decision-log/record.ts"]);
      // A circle is reported once, from whichever of its modules the cruiser met first.
      const circles = result.summary.violations.filter((v) => v.rule.name === "no-circular");
      expect(circles.map((v) => [v.from, v.to].sort())).toEqual([["src/a.ts", "src/b.ts"]]);
      expect(broken(result).filter((b) => !b.includes("node_modules/hono/") && !b.startsWith("no-circular:"))).toEqual(
        [
          "decision-log-below-the-pdp: src/decision-log/record.ts -> src/http/deps.ts",
          "decision-log-below-the-pdp: src/decision-log/record.ts -> src/pdp/evaluation.ts",
          "no-unresolvable: src/uses-tools.ts -> ./gone.js",
          "packages-only-through-contract: src/cli/client.ts -> packages/sdk/src/wire.ts",
          "packages-without-server-code: packages/sdk/src/index.ts -> src/a.ts",
          "routes-take-deps-not-the-app: src/pdp/routes.ts -> src/http/app.ts",
          "src-without-tools-or-tests: src/uses-tools.ts -> test/helpers/app.ts",
          "src-without-tools-or-tests: src/uses-tools.ts -> tools/bench.ts",
        ].sort(),
      );
    }, 120_000);
  });
});
