/**
 * Defect 3 (issue 11), suite-wide: every error body a test provokes (status 400 and above, from
 * the in-process app of ./app.ts and from every server of ./verdict.ts) is scanned for what no
 * error body may carry: SQL, a driver's "Failed query ... params:" text, a stack trace, the
 * decision record's column names. A body that carries any fails the test that provoked it, right
 * where it was provoked. With `VERDICT_TEST_ERROR_BODIES=<file>` set, one JSON line per scanned
 * body is appended to that file (`{status, method, path, leaks}`), so a run of the whole suite
 * can be summed up ("5xx bodies containing SQL or record fields: 0 of N").
 */
import { appendFileSync } from "node:fs";

/** What an error body must never contain, by name. */
export const LEAK_PATTERNS: ReadonlyArray<readonly [string, RegExp]> = [
  ["SQL", /\b(?:INSERT INTO|SELECT |DELETE FROM|UPDATE "|jsonb_populate_recordset)/],
  ["a driver's failed query", /Failed query/i],
  ["query parameters", /\bparams: /],
  // a V8 stack frame: "at fn (/path/file.js:12:34)", "at node:internal/x:1:2", "at file:///x.js:1:2"
  ["a stack trace", /\bat (?:async )?(?:[\w.$<>[\] ]+ \()?(?:file:\/\/|node:|\/)[^\s()"]*:\d+:\d+/],
  ["decision-record columns", /\b(?:arguments_sha256|prev_hash|policy_set_version|evaluation_micros|credential_jti)\b|"decisions"/],
];

/** The names of the leak patterns `text` matches (empty: clean). */
export function leaksIn(text: string): string[] {
  return LEAK_PATTERNS.filter(([, re]) => re.test(text)).map(([name]) => name);
}

/** Counts of the bodies scanned in this test file, by class. */
export const scanned = { total: 0, serverErrors: 0, leaking: 0 };

/**
 * Scans one error body; throws (failing the test) when it leaks.
 * @param where `METHOD path`, for the message
 */
export function checkErrorBody(status: number, text: string, where: string): void {
  const leaks = leaksIn(text);
  scanned.total++;
  if (status >= 500) scanned.serverErrors++;
  if (leaks.length) scanned.leaking++;
  const file = process.env.VERDICT_TEST_ERROR_BODIES;
  if (file) appendFileSync(file, JSON.stringify({ status, where, leaks }) + "\n");
  if (leaks.length) {
    throw new Error(`error body of ${where} (HTTP ${status}) carries ${leaks.join(", ")} (issue 11, defect 3): ${text.slice(0, 400)}`);
  }
}

/** Scans a response when its status is 400 or above (reading a clone, so the caller can still read it). */
export async function checkResponse(res: Response, where: string): Promise<void> {
  if (res.status < 400) return;
  checkErrorBody(res.status, await res.clone().text(), where);
}

const origins = new Set<string>();
let installed = false;

/**
 * Scans the error bodies of every `fetch` to `url`'s origin (a Verdict server a test started),
 * until {@link unwatchOrigin}. Wraps the global `fetch` once per test file.
 */
export function watchOrigin(url: string): void {
  origins.add(new URL(url).origin);
  if (installed) return;
  installed = true;
  const original = globalThis.fetch;
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const res = await original(input, init);
    const target = input instanceof Request ? input.url : String(input);
    let origin: string | undefined;
    try {
      origin = new URL(target).origin;
    } catch {
      origin = undefined;
    }
    if (origin !== undefined && origins.has(origin)) {
      const method = init?.method ?? (input instanceof Request ? input.method : "GET");
      await checkResponse(res, `${method} ${new URL(target).pathname}`);
    }
    return res;
  };
}

/** Stops scanning `url`'s origin (its server stopped; the port may serve something else next). */
export function unwatchOrigin(url: string): void {
  origins.delete(new URL(url).origin);
}
