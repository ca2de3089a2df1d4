/**
 * `src/config.ts` is the one reader of the environment (issue 12): its server and CLI sections,
 * the defaults they share, and a scan of `src/` that fails when another file reads
 * `process.env`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_DATA_DIR,
  DEFAULT_DECISION_CACHE_ENTRIES,
  DEFAULT_DECISION_CACHE_MB,
  DEFAULT_HOST,
  DEFAULT_POLICY_DIR,
  DEFAULT_PORT,
  DEFAULT_SCHEMA_DIR,
  DEFAULT_URL,
  loadCliConfig,
  loadConfig,
  VERDICT_KEY_NOTICE,
} from "../src/config.js";
import { ROOT } from "./helpers/app.js";

/** Every TypeScript file under `dir`, recursively. */
function typescriptFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? typescriptFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

describe("one reader of the environment", () => {
  it("no file of src/ but src/config.ts mentions process.env", () => {
    const files = typescriptFiles(join(ROOT, "src"));
    expect(files.length).toBeGreaterThan(50);
    const readers = files.filter((f) => /process\s*\.\s*env\b|process\s*\[\s*["']env["']\s*\]/.test(readFileSync(f, "utf8"))).map((f) => relative(ROOT, f));
    expect(readers).toEqual(["src/config.ts"]);
  });

  it("no code of src/ but src/config.ts names the server's default port, host or data directory", () => {
    const files = typescriptFiles(join(ROOT, "src")).filter((f) => relative(ROOT, f) !== "src/config.ts");
    // Code only: a docstring may give an example (`./.verdict`).
    const code = (f: string) => readFileSync(f, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
    const duplicates = files.filter((f) => /\b8700\b|["'`]\.\/\.verdict["'`]|["'`]127\.0\.0\.1["'`]/.test(code(f)));
    expect(duplicates.map((f) => relative(ROOT, f))).toEqual([]);
  });
});

describe("the server's section", () => {
  it("defaults to the shared constants", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: DEFAULT_PORT, host: DEFAULT_HOST, dataDir: DEFAULT_DATA_DIR, policyDir: DEFAULT_POLICY_DIR, schemaDir: DEFAULT_SCHEMA_DIR });
    expect(DEFAULT_URL).toBe(`http://${c.host}:${c.port}`);
  });

  it("bounds the decision cache in entries and MiB, and turns it off with VERDICT_DECISION_CACHE=off", () => {
    expect(loadConfig({}).decisionCache).toEqual({ maxEntries: DEFAULT_DECISION_CACHE_ENTRIES, maxBytes: DEFAULT_DECISION_CACHE_MB * 2 ** 20 });
    expect(loadConfig({ VERDICT_DECISION_CACHE_ENTRIES: "500", VERDICT_DECISION_CACHE_MB: "2" }).decisionCache).toEqual({ maxEntries: 500, maxBytes: 2 * 2 ** 20 });
    expect(loadConfig({ VERDICT_DECISION_CACHE: "off", VERDICT_DECISION_CACHE_ENTRIES: "500" }).decisionCache).toBeUndefined();
    expect(() => loadConfig({ VERDICT_DECISION_CACHE: "no" })).toThrow(/VERDICT_DECISION_CACHE:/);
    expect(() => loadConfig({ VERDICT_DECISION_CACHE_ENTRIES: "0" })).toThrow(/VERDICT_DECISION_CACHE_ENTRIES:/);
    expect(() => loadConfig({ VERDICT_DECISION_CACHE_MB: "1.5" })).toThrow(/VERDICT_DECISION_CACHE_MB:/);
  });
});

describe("the CLI's section", () => {
  it("reads VERDICT_URL and VERDICT_API_KEY, empty counting as unset", () => {
    expect(loadCliConfig({ VERDICT_URL: "http://verdict.internal:9000", VERDICT_API_KEY: "vk_a" })).toEqual({ url: "http://verdict.internal:9000", apiKey: "vk_a", notices: [] });
    expect(loadCliConfig({ VERDICT_URL: "", VERDICT_API_KEY: "" })).toEqual({ url: undefined, apiKey: undefined, notices: [] });
  });

  it("accepts VERDICT_KEY with a notice, and prefers VERDICT_API_KEY when both are set", () => {
    expect(loadCliConfig({ VERDICT_KEY: "vk_old" })).toEqual({ url: undefined, apiKey: "vk_old", notices: [VERDICT_KEY_NOTICE] });
    expect(loadCliConfig({ VERDICT_KEY: "vk_old", VERDICT_API_KEY: "vk_new" })).toEqual({ url: undefined, apiKey: "vk_new", notices: [] });
  });

  it("falls back to the server's VERDICT_ADMIN_KEY last", () => {
    expect(loadCliConfig({ VERDICT_ADMIN_KEY: "admin-key-0123456789" }).apiKey).toBe("admin-key-0123456789");
    expect(loadCliConfig({ VERDICT_ADMIN_KEY: "admin-key-0123456789", VERDICT_KEY: "vk_old" }).apiKey).toBe("vk_old");
    expect(loadCliConfig({ VERDICT_ADMIN_KEY: "admin-key-0123456789", VERDICT_API_KEY: "vk_new" }).apiKey).toBe("vk_new");
  });
});
