/**
 * Runs Cedar's own integration tests (cedar-policy/cedar-integration-tests: the hand-written
 * tests and the generated corpus) through Verdict's engine adapter (`src/cedar/`), so
 * that the adapter's handling of schemas, entities, context, preparsed sets, reasons and errors
 * is checked against answers Cedar itself produced.
 *
 * Test file format (Cedar integration tests): `{policies, entities, schema, shouldValidate,
 * requests: [{description, principal, action, resource, context, validateRequest?, decision,
 * reason, errors}]}`, with paths relative to the suite's root. Policies given as one text get
 * ids `policy0`, `policy1`, ... in file order; `reason` and `errors` are compared as sets.
 *
 * Test files are read with Verdict's strict JSON parser (`src/http/json.ts`), so a file holding an
 * integer beyond ±2^53 is reported as rejected, never evaluated on a rounded number.
 *
 * Semantics: this runner, and only this runner, builds its engines with Cedar's own semantics
 * (`semantics: "cedar"`, see `EngineSemantics` in `src/cedar/types.ts`): a policy that errors is
 * skipped, so an erroring forbid does not deny, and a default deny has no reasons, because those
 * are the answers Cedar's tests expect. Every decision Verdict serves applies the fail-closed
 * rule instead (an erroring forbid denies with `verdict:forbid-errored`; a default deny names
 * `verdict:no-permit`), so agreement here says the adapter reproduces Cedar, not that Verdict
 * answers as Cedar does when a forbid errors.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { PreparedEngine } from "../../src/cedar/engine.js";
import { splitPolicies, validatePolicySet } from "../../src/cedar/policies.js";
import { schemaTextToJson } from "../../src/cedar/schema.js";
import { CedarParseError, type Entity, type EntityUid, type SchemaJson } from "../../src/cedar/types.js";
import { VerdictError } from "../../src/http/errors.js";
import { parseStrictJson } from "../../src/http/json.js";
import { REPO_ROOT } from "./suites.js";

/** One request of a Cedar test file, with Cedar's expected answer. */
export interface CedarTestRequest {
  description: string;
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, unknown>;
  /** Whether Cedar validated the request against the schema (absent in older files: true). */
  validateRequest?: boolean;
  decision: "allow" | "deny";
  reason: string[];
  errors: string[];
}

/** A Cedar test file. */
export interface CedarTestFile {
  policies: string;
  entities: string;
  schema: string;
  shouldValidate: boolean;
  requests: CedarTestRequest[];
}

/** Tests whose expected validation result Cedar itself no longer gives, and why. */
export interface KnownValidationChanges {
  reason: string;
  tests: string[];
}

/** What happened to one request. */
export interface RequestOutcome {
  description: string;
  passed: boolean;
  /** What differed, when it failed. */
  problem?: string;
}

/** What happened to one test file. */
export interface TestOutcome {
  /** The test file, relative to the suite root. */
  test: string;
  /**
   * `passed`: validation and every request agree with Cedar. `failed`: something differs.
   * `rejected`: the files hold an integer beyond ±2^53, which Verdict refuses to read.
   */
  status: "passed" | "failed" | "rejected";
  /** Why the test was rejected, or the first problem when it failed. */
  message?: string;
  validation: {
    expected: boolean;
    actual: boolean;
    /** True when the difference is a listed, known change in Cedar (see {@link KnownValidationChanges}). */
    known: boolean;
  } | null;
  requests: RequestOutcome[];
}

/** Counts over a run. */
export interface SuiteSummary {
  tests: number;
  passed: number;
  failed: number;
  rejected: number;
  requests: number;
  requestsPassed: number;
  requestsFailed: number;
  /** Requests of rejected tests (never evaluated). */
  requestsRejected: number;
  validationAgreed: number;
  validationKnownChanges: number;
  validationDisagreed: number;
  outcomes: TestOutcome[];
}

/** Reads a JSON file with Verdict's strict parser (throws VerdictError on integers beyond ±2^53). */
function readStrictJson(path: string): unknown {
  return parseStrictJson(readFileSync(path, "utf8"), { allowNul: true });
}

const sameSet = (a: string[], b: string[]) => {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((v) => y.has(v));
};

/**
 * Assigns Cedar's default ids to the policies of one text: `policy0`, `policy1`, ... in file order.
 * @throws CedarParseError when the text does not parse
 */
export function policiesWithDefaultIds(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  splitPolicies(text).forEach((p, i) => {
    if (p.isTemplate) throw new CedarParseError("templates are not supported by the conformance runner", [{ message: "template in test policies" }]);
    out[`policy${i}`] = p.text;
  });
  return out;
}

type Validation = NonNullable<TestOutcome["validation"]>;
const agrees = (v: Validation) => v.expected === v.actual || v.known;
const validationProblem = (v: Validation) => `validation ${v.actual ? "passes" : "fails"}, Cedar's test says shouldValidate=${v.expected}`;

/**
 * Runs one Cedar test file through the engine adapter.
 * @param root the suite root (paths in the file are relative to it)
 * @param test the test file, relative to `root`
 * @param known tests whose `shouldValidate` changed meaning in the Cedar version in use
 */
export function runCedarTest(root: string, test: string, known: ReadonlySet<string> = new Set()): TestOutcome {
  const failed = (message: string): TestOutcome => ({ test, status: "failed", message, validation: null, requests: [] });
  let rejection: string | undefined;
  let file: CedarTestFile;
  let entities: Entity[] = [];
  try {
    file = readStrictJson(join(root, test)) as CedarTestFile;
    entities = readStrictJson(join(root, file.entities)) as Entity[];
  } catch (e) {
    if (!(e instanceof VerdictError)) throw e;
    rejection = e.message;
    // Validation needs only the file paths and `shouldValidate`, which hold no numbers, so a
    // rejected test is still validated; its requests are never evaluated.
    file = JSON.parse(readFileSync(join(root, test), "utf8")) as CedarTestFile;
  }

  let schema: SchemaJson;
  let policies: Record<string, string>;
  try {
    schema = schemaTextToJson(readFileSync(join(root, file.schema), "utf8"));
    policies = policiesWithDefaultIds(readFileSync(join(root, file.policies), "utf8"));
  } catch (e) {
    if (e instanceof CedarParseError) return failed(`${e.message}: ${e.issues.map((i) => i.message).join("; ")}`);
    throw e;
  }

  let valid: boolean;
  try {
    valid = validatePolicySet(schema, { policies }).errors.length === 0;
  } catch (e) {
    if (!(e instanceof CedarParseError)) throw e;
    valid = false;
  }
  const validation = { expected: file.shouldValidate, actual: valid, known: valid !== file.shouldValidate && known.has(test) };
  if (rejection !== undefined) {
    // Still a failure when its validation disagrees with Cedar beyond the known changes.
    if (!agrees(validation)) return { test, status: "failed", message: `${rejection}; and ${validationProblem(validation)}`, validation, requests: [] };
    return { test, status: "rejected", message: rejection, validation, requests: [] };
  }

  let engine: PreparedEngine;
  try {
    // Cedar's own semantics, to compare with Cedar's expected answers (see the module comment).
    engine = new PreparedEngine(schema, { policies }, { slot: "conformance", semantics: "cedar" });
  } catch (e) {
    if (e instanceof CedarParseError) return failed(`${e.message}: ${e.issues.map((i) => i.message).join("; ")}`);
    throw e;
  }

  const requests = file.requests.map((q): RequestOutcome => {
    const answer = engine.authorize(
      { principal: q.principal, action: q.action, resource: q.resource, context: q.context ?? {}, entities },
      { validateRequest: q.validateRequest ?? true },
    );
    const problems: string[] = [];
    if (answer.decision !== q.decision) problems.push(`decision ${answer.decision}, Cedar says ${q.decision}`);
    if (!sameSet(answer.reasons, q.reason)) problems.push(`reasons [${answer.reasons}], Cedar says [${q.reason}]`);
    const errorIds = answer.errors.map((e) => e.policyId ?? `(request: ${e.message})`);
    if (!sameSet(errorIds, q.errors)) problems.push(`errors [${errorIds}], Cedar says [${q.errors}]`);
    return problems.length ? { description: q.description, passed: false, problem: problems.join("; ") } : { description: q.description, passed: true };
  });

  const firstFailure = requests.find((r) => !r.passed);
  const validationOk = agrees(validation);
  const status = firstFailure || !validationOk ? "failed" : "passed";
  const message = !validationOk
    ? validationProblem(validation)
    : firstFailure
      ? `${firstFailure.description}: ${firstFailure.problem}`
      : undefined;
  return { test, status, message, validation, requests };
}

/**
 * Runs test files and counts the outcomes.
 * @param onOutcome called after each test (for progress output)
 */
export function runCedarTests(
  root: string,
  tests: string[],
  known: ReadonlySet<string> = new Set(),
  onOutcome?: (o: TestOutcome, index: number) => void,
): SuiteSummary {
  const s: SuiteSummary = {
    tests: 0,
    passed: 0,
    failed: 0,
    rejected: 0,
    requests: 0,
    requestsPassed: 0,
    requestsFailed: 0,
    requestsRejected: 0,
    validationAgreed: 0,
    validationKnownChanges: 0,
    validationDisagreed: 0,
    outcomes: [],
  };
  tests.forEach((test, i) => {
    const o = runCedarTest(root, test, known);
    s.tests++;
    s[o.status]++;
    if (o.status === "rejected") {
      const text = readFileSync(join(root, test), "utf8");
      s.requestsRejected += (text.match(/"decision"\s*:/g) ?? []).length;
    }
    for (const r of o.requests) {
      s.requests++;
      if (r.passed) s.requestsPassed++;
      else s.requestsFailed++;
    }
    if (o.validation) {
      if (o.validation.expected === o.validation.actual) s.validationAgreed++;
      else if (o.validation.known) s.validationKnownChanges++;
      else s.validationDisagreed++;
    }
    s.outcomes.push(o);
    onOutcome?.(o, i);
  });
  return s;
}

function walkJson(dir: string, accept: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...walkJson(full, accept));
    else if (accept(name)) out.push(full);
  }
  return out;
}

const relPath = (root: string, f: string) => relative(root, f).split(sep).join("/");

/** The hand-written test files (`tests/**\/*.json`), relative to the suite root, sorted. */
export function handWrittenTests(cedarRoot: string): string[] {
  return walkJson(join(cedarRoot, "tests"), (n) => n.endsWith(".json")).map((f) => relPath(cedarRoot, f));
}

/** An extracted copy of the corpus, in a temporary directory of its own. */
export interface ExtractedCorpus {
  /** The directory that plays the suite root for corpus tests (holds `corpus-tests/`). */
  root: string;
  /** Every corpus test file (`corpus-tests/<hash>.json`), sorted. */
  tests: string[];
  /** Removes the temporary directory. */
  remove(): void;
}

/**
 * Extracts `corpus-tests.tar.gz` into a new temporary directory with `tar` (the corpus is never
 * committed).
 * @throws Error when the archive is missing or `tar` fails
 */
export function extractCorpus(cedarRoot: string): ExtractedCorpus {
  const archive = join(cedarRoot, "corpus-tests.tar.gz");
  if (!existsSync(archive)) throw new Error(`Cedar corpus not found at ${archive}`);
  const root = mkdtempSync(join(tmpdir(), "verdict-cedar-corpus-"));
  try {
    execFileSync("tar", ["-xzf", archive, "-C", root], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) {
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
  const tests = readdirSync(join(root, "corpus-tests"))
    .filter((n) => n.endsWith(".json") && !n.endsWith(".entities.json"))
    .sort()
    .map((n) => `corpus-tests/${n}`);
  return { root, tests, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * A fixed sample of corpus tests: the `size` tests whose names have the smallest SHA-256, so the
 * selection is the same on every machine and spreads over the whole corpus.
 */
export function corpusSample(tests: string[], size: number): string[] {
  const keyed = tests.map((t) => ({ t, k: createHash("sha256").update(t).digest("hex") }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return keyed
    .slice(0, size)
    .map((x) => x.t)
    .sort();
}

/** What the runner says about its semantics, printed with its counts. */
export const CEDAR_SEMANTICS_NOTE =
  "semantics: Cedar's own (an erroring policy is skipped, a default deny has no reasons); Verdict's decisions fail closed instead (an erroring forbid denies: verdict:forbid-errored), see docs/fail-closed.md";

/** The file listing the tests whose validation result changed meaning in Cedar 4.13. */
export const KNOWN_VALIDATION_FILE = join(REPO_ROOT, "tools", "conformance", "cedar-known-validation.json");

/** Reads {@link KNOWN_VALIDATION_FILE}. */
export function knownValidationChanges(path = KNOWN_VALIDATION_FILE): KnownValidationChanges {
  return JSON.parse(readFileSync(path, "utf8")) as KnownValidationChanges;
}
