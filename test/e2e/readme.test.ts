/**
 * Every `curl` in README.md and in `docs/*.md` works against a live Verdict: each shell block
 * that runs curl is run by bash with the real curl binary, only `127.0.0.1:8700` rewritten to the
 * test server's address. A block declares the status it documents (`# HTTP 200`, or
 * `# HTTP 200 text/plain` for an answer that is not JSON); the JSON block that follows it, when
 * there is one, is what the answer must look like (ids, times and counters aside). The API key
 * comes from `VERDICT_API_KEY`, as the README's quick start tells its reader to set it, so the
 * commands stay as written. The files with curl blocks are named below (`CURL_FILES`), and a
 * scan of every fenced block of every file, independent of the parser, fails the test when a
 * file runs curl that the examples do not cover.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, TEST_ADMIN_KEY } from "../helpers/app.js";
import { documentedFiles, readmeExamples } from "../helpers/readme.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

const run = promisify(execFile);

/** Values that differ from run to run (ids, times, hashes, counters, the policy-set version, the database driver). */
const VARYING = new Set([
  "caller",
  "checkedAt",
  "streams",
  "kids",
  "records",
  "decisionId", "id", "time", "requestId", "evaluationMicros", "stream", "seq", "prevHash", "hash", "nextCursor",
  "argumentsSha256", "policySetVersion", "policies", "recorded", "failed", "batches", "largestBatch", "driver",
  "endedAt", "recordId",
]);

/** Where `actual` departs from `documented`: every documented key must be there, with the same value unless it varies. */
function departures(documented: unknown, actual: unknown, path = "$"): string[] {
  if (Array.isArray(documented)) {
    if (!Array.isArray(actual)) return [`${path}: expected an array`];
    if (actual.length !== documented.length) return [`${path}: expected ${documented.length} items, got ${actual.length}`];
    return documented.flatMap((d, i) => departures(d, actual[i], `${path}[${i}]`));
  }
  if (documented !== null && typeof documented === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return [`${path}: expected an object`];
    return Object.entries(documented).flatMap(([k, v]) =>
      !(k in actual) ? [`${path}.${k}: missing`] : VARYING.has(k) ? [] : departures(v, (actual as Record<string, unknown>)[k], `${path}.${k}`),
    );
  }
  return Object.is(documented, actual) ? [] : [`${path}: documented ${JSON.stringify(documented)}, got ${JSON.stringify(actual)}`];
}

/** The files whose curl blocks this test runs; a file that gains or loses curl blocks changes this list. */
const CURL_FILES = ["README.md", "docs/api.md", "docs/auditing.md", "docs/observability.md"];

/**
 * The Markdown files of the repository's front door and reference that hold a fenced block with a
 * line running curl, found line by line without the helper's parser (fences indented or not, any
 * language).
 */
function filesRunningCurl(): string[] {
  const files = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
  return files
    .filter((file) => {
      let fenced = false;
      for (const line of readFileSync(join(ROOT, file), "utf8").split("\n")) {
        if (/^\s*```/.test(line)) fenced = !fenced;
        else if (fenced && /(^|[\s(|;&])curl\s/.test(line)) return true;
      }
      return false;
    })
    .sort();
}

/** The anchors GitHub gives a Markdown text's headings: lower case, punctuation but `-` and `_` dropped, spaces as `-`. */
function headingAnchors(text: string): Set<string> {
  const out = new Set<string>();
  for (const [, heading] of text.replace(/^( *)```[\s\S]*?^\1```$/gm, "").matchAll(/^#{1,6} (.+)$/gm)) {
    out.add(heading!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-"));
  }
  return out;
}

/** The media type of the last answer in a `curl --dump-header` file. */
function lastContentType(headers: string): string | undefined {
  const last = headers.split(/^(?=HTTP\/)/m).at(-1) ?? "";
  return /^content-type:\s*(.+?)\s*$/im.exec(last)?.[1];
}

const examples = readmeExamples();
let verdict: TestVerdict;
let scratch: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "verdict-readme-"));
  writeFileSync(join(scratch, ".curlrc"), `dump-header = "${join(scratch, "headers")}"\n`);
  verdict = await startTestVerdict();
});

afterAll(async () => {
  await verdict?.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

describe("README.md and docs/*.md", () => {
  it("runs the curl blocks of every file that has them, and says which", () => {
    expect(documentedFiles()).toContain("docs/api.md");
    expect(documentedFiles().length).toBe(1 + readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).length);
    const covered = [...new Set(examples.map((e) => e.file))].sort();
    expect(covered).toEqual([...CURL_FILES].sort());
    expect(filesRunningCurl()).toEqual(covered);
  });

  it("keeps README.md the short front door: at most 30 KB, the reference in docs/", () => {
    const readme = readFileSync(join(ROOT, "README.md"));
    expect(readme.length).toBeLessThanOrEqual(30_000);
    const index = readFileSync(join(ROOT, "docs", "README.md"), "utf8");
    for (const page of readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md") && f !== "README.md")) expect(index, page).toContain(`](${page})`);
  });

  it("links only to files and headings that exist", () => {
    const broken: string[] = [];
    for (const file of documentedFiles()) {
      const text = readFileSync(join(ROOT, file), "utf8").replace(/^( *)```[\s\S]*?^\1```$/gm, "");
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [path, anchor] = target!.split("#") as [string, string | undefined];
        const resolved = path ? join(dirname(join(ROOT, file)), path) : join(ROOT, file);
        if (!existsSync(resolved)) broken.push(`${file}: ${target} (no such file)`);
        else if (anchor !== undefined && resolved.endsWith(".md") && !headingAnchors(readFileSync(resolved, "utf8")).has(anchor)) broken.push(`${file}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it("has a curl example for every endpoint", () => {
    const all = examples.map((e) => e.script).join("\n");
    for (const path of ["/v1/mcp/tools/call", "/v1/mcp/tools/list", "/v1/authorize ", "/v1/authorize/batch", "/v1/decisions?", "/v1/decisions/$id", "/healthz", "/readyz"]) {
      expect(all, path).toContain(path.trim() === path ? path : `${path.trim()} `);
    }
  });

  it.each(examples.map((e) => [e.file, e.line, e] as const))("curl at %s:%i works as documented", async (_file, _line, example) => {
    const script = example.script.replaceAll("127.0.0.1:8700", new URL(verdict.url).host);
    const { stdout } = await run("bash", ["-euo", "pipefail", "-c", script], { env: { ...process.env, CURL_HOME: scratch, VERDICT_API_KEY: TEST_ADMIN_KEY }, timeout: 30_000 });
    const headers = readFileSync(join(scratch, "headers"), "utf8");
    const statuses = [...headers.matchAll(/^HTTP\/[\d.]+ (\d{3})/gm)];
    expect(Number(statuses.at(-1)?.[1])).toBe(example.status);
    if (example.mediaType !== undefined) {
      expect(lastContentType(headers)).toMatch(new RegExp(`^${example.mediaType.replace(/[.+]/g, "\\$&")}\\b`));
      expect(stdout.trim()).not.toBe("");
      expect(example.documented).toBeUndefined();
      return;
    }
    const body = JSON.parse(stdout);
    if (example.documented !== undefined) expect(departures(example.documented, body)).toEqual([]);
  });
});
