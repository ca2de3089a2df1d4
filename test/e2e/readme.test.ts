/**
 * Every `curl` in README.md works against a live Verdict: each shell block that runs curl is run
 * by bash with the real curl binary, only `127.0.0.1:8700` rewritten to the test server's
 * address. A block declares the status it documents (`# HTTP 200`); the JSON block that follows
 * it, when there is one, is what the answer must look like (ids, times and counters aside).
 * The API key comes from `VERDICT_KEY`, as the README tells its reader to set it, so the
 * commands stay as written.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_ADMIN_KEY } from "../helpers/app.js";
import { readmeExamples } from "../helpers/readme.js";
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

describe("README.md", () => {
  it("has a curl example for every endpoint", () => {
    const all = examples.map((e) => e.script).join("\n");
    for (const path of ["/v1/mcp/tools/call", "/v1/mcp/tools/list", "/v1/authorize ", "/v1/authorize/batch", "/v1/decisions?", "/v1/decisions/$id", "/healthz", "/readyz"]) {
      expect(all, path).toContain(path.trim() === path ? path : `${path.trim()} `);
    }
  });

  it.each(examples.map((e) => [e.line, e] as const))("curl at line %i works as documented", async (_line, example) => {
    const script = example.script.replaceAll("127.0.0.1:8700", new URL(verdict.url).host);
    const { stdout } = await run("bash", ["-euo", "pipefail", "-c", script], { env: { ...process.env, CURL_HOME: scratch, VERDICT_KEY: TEST_ADMIN_KEY }, timeout: 30_000 });
    const statuses = [...readFileSync(join(scratch, "headers"), "utf8").matchAll(/^HTTP\/[\d.]+ (\d{3})/gm)];
    expect(Number(statuses.at(-1)?.[1])).toBe(example.status);
    const body = JSON.parse(stdout);
    if (example.documented !== undefined) expect(departures(example.documented, body)).toEqual([]);
  });
});
