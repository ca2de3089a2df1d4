/**
 * Replays the AuthZEN interop decision files (openid/authzen interop: the Todo scenario's
 * `decisions-authorization-api-1_0-0{0,1,2}.json` and the API-gateway `decisions.json`) against a
 * running PDP over HTTP, as the official harness does: each `evaluation` case is POSTed to
 * `/access/v1/evaluation` and its `decision` compared with `expected`; each `evaluations` case
 * is POSTed to `/access/v1/evaluations` and the `evaluations` array compared exactly.
 *
 * The `1_0-00` file predates AuthZEN 1.0's shape: it names the user in `subject.identity` and puts
 * resource attributes (`ownerID`, `userID`) beside `type` and `id`. The runner translates such
 * requests to the 1.0 shape ({@link toAuthzen10}) before sending them; Verdict's endpoints speak
 * AuthZEN 1.0 only.
 *
 * Usage: `npm run authzen:interop -- <pdp-url> [decision files...]` (defaults to the four files
 * of `../shared/conformance/authzen`); the API key, if any, in `AUTHZEN_PDP_API_KEY`, sent as
 * `Authorization: Bearer <key>`. Exits 1 when any case fails.
 */
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { pathToFileURL } from "node:url";
import { conformanceDir } from "./conformance/suites.js";

/** One case of a decision file. */
export interface InteropCase {
  endpoint: "evaluation" | "evaluations";
  /** The request as the file gives it. */
  request: Record<string, unknown>;
  /** `true`/`false` for `evaluation`, `[{"decision": ...}, ...]` for `evaluations`. */
  expected: unknown;
}

/** What happened to one case. */
export interface InteropResult extends InteropCase {
  /** The request as sent (after {@link toAuthzen10}). */
  sent: Record<string, unknown>;
  status: "PASS" | "FAIL" | "ERROR";
  /** The `decision` (evaluation) or `evaluations` array (evaluations) the PDP answered. */
  actual?: unknown;
  error?: string;
}

/** The outcome of one decision file. */
export interface InteropReport {
  file: string;
  total: number;
  passed: number;
  failed: number;
  results: InteropResult[];
}

/** The interop decision files of the shared suites, Todo `1_0-00`, `1_0-01`, `1_0-02`, then gateway. */
export function interopFiles(dir = join(conformanceDir(), "authzen")): { todo: string[]; gateway: string } {
  return {
    todo: ["00", "01", "02"].map((v) => join(dir, "todo", `decisions-authorization-api-1_0-${v}.json`)),
    gateway: join(dir, "gateway", "decisions.json"),
  };
}

/** Reads the cases of a decision file: its `evaluation` cases, then its `evaluations` cases. */
export function readDecisionFile(path: string): InteropCase[] {
  const data = JSON.parse(readFileSync(path, "utf8")) as {
    evaluation?: Array<{ request: Record<string, unknown>; expected: unknown }>;
    evaluations?: Array<{ request: Record<string, unknown>; expected: unknown }>;
  };
  return [
    ...(data.evaluation ?? []).map((c) => ({ endpoint: "evaluation" as const, request: c.request, expected: c.expected })),
    ...(data.evaluations ?? []).map((c) => ({ endpoint: "evaluations" as const, request: c.request, expected: c.expected })),
  ];
}

/**
 * Translates a request of the pre-1.0 interop shape (`1_0-00`: `subject.identity` holds the user
 * id; resource attributes sit beside `type` and `id`) to AuthZEN 1.0: `subject.id` becomes the
 * `identity` value and the resource's extra keys move into `resource.properties`. A request
 * without `subject.identity` is returned unchanged.
 */
export function toAuthzen10(request: Record<string, unknown>): Record<string, unknown> {
  const subject = request.subject as Record<string, unknown> | undefined;
  if (typeof subject?.identity !== "string") return request;
  const { identity, ...rest } = subject;
  const out: Record<string, unknown> = { ...request, subject: { ...rest, id: identity } };
  const resource = request.resource as Record<string, unknown> | undefined;
  if (resource) {
    const { type, id, properties, ...extra } = resource;
    out.resource = {
      type,
      ...(id === undefined ? {} : { id }),
      ...(properties !== undefined || Object.keys(extra).length ? { properties: { ...(properties as object), ...extra } } : {}),
    };
  }
  return out;
}

/**
 * Replays one decision file against a PDP.
 * @param baseUrl the PDP's origin, e.g. `http://127.0.0.1:8700`
 * @param headers extra headers for every request (e.g. `Authorization`)
 */
export async function runInteropFile(baseUrl: string, file: string, headers: Record<string, string> = {}): Promise<InteropReport> {
  const results: InteropResult[] = [];
  for (const c of readDecisionFile(file)) {
    const sent = toAuthzen10(c.request);
    try {
      const res = await fetch(`${baseUrl}/access/v1/${c.endpoint}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(sent),
      });
      const text = await res.text();
      if (res.status !== 200) {
        results.push({ ...c, sent, status: "ERROR", error: `HTTP ${res.status}: ${text.slice(0, 300)}` });
        continue;
      }
      const data = JSON.parse(text) as { decision?: unknown; evaluations?: unknown };
      const actual = c.endpoint === "evaluation" ? data.decision : data.evaluations;
      // Exact comparison of the serialised values, as the official harness compares them.
      const status = JSON.stringify(actual) === JSON.stringify(c.expected) ? "PASS" : "FAIL";
      results.push({ ...c, sent, status, actual });
    } catch (e) {
      results.push({ ...c, sent, status: "ERROR", error: (e as Error).message });
    }
  }
  const passed = results.filter((r) => r.status === "PASS").length;
  return { file, total: results.length, passed, failed: results.length - passed, results };
}

/** One line per failing case and a count line, for the console. */
export function formatReport(r: InteropReport): string {
  const lines = r.results
    .filter((x) => x.status !== "PASS")
    .map((x) => `  ${x.status} ${x.endpoint} ${JSON.stringify(x.sent)} expected ${JSON.stringify(x.expected)}, got ${x.error ?? JSON.stringify(x.actual)}`);
  return [`${basename(r.file)}: ${r.passed}/${r.total} passed`, ...lines].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [baseUrl, ...files] = argv;
  if (!baseUrl) {
    console.error("usage: npm run authzen:interop -- <pdp-url> [decision files...]");
    return 2;
  }
  const defaults = interopFiles();
  const key = process.env.AUTHZEN_PDP_API_KEY;
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  let failed = 0;
  for (const file of files.length ? files : [...defaults.todo, defaults.gateway]) {
    const report = await runInteropFile(baseUrl.replace(/\/$/, ""), file, headers);
    console.log(formatReport(report));
    failed += report.failed;
  }
  return failed ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
