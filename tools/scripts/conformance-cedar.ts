/**
 * `npm run conformance:cedar [-- --sample N] [-- --quiet]`: runs Cedar's integration tests
 * (hand-written tests and the corpus, or a fixed sample of it) through Verdict's engine adapter
 * and prints the counts. Exits 1 when any test fails (rejected big-integer tests and the listed
 * Cedar 4.13 validation changes are not failures; they are counted apart). The engine runs with
 * Cedar's own semantics here, not Verdict's fail-closed rule, and the output says so.
 */
import { cedarVersion } from "../../src/cedar/engine.js";
import { conformanceDir } from "../conformance/suites.js";
import {
  CEDAR_SEMANTICS_NOTE,
  corpusSample,
  extractCorpus,
  handWrittenTests,
  knownValidationChanges,
  runCedarTests,
  type SuiteSummary,
} from "../conformance/cedar-suite.js";
import { join } from "node:path";

const args = process.argv.slice(2);
const sampleAt = args.indexOf("--sample");
const sample = sampleAt >= 0 ? Number(args[sampleAt + 1]) : undefined;
const quiet = args.includes("--quiet");

function report(name: string, s: SuiteSummary): void {
  console.log(
    `${name}: ${s.tests} tests: ${s.passed} passed, ${s.failed} failed, ${s.rejected} rejected (integers beyond ±2^53); ` +
      `${s.requests} requests evaluated: ${s.requestsPassed} agree with Cedar, ${s.requestsFailed} differ; ` +
      `${s.requestsRejected} requests of rejected tests not evaluated; ` +
      `validation: ${s.validationAgreed} agree, ${s.validationKnownChanges} known Cedar 4.13 changes, ${s.validationDisagreed} differ`,
  );
  for (const o of s.outcomes) {
    if (o.status === "failed") console.log(`  FAIL ${o.test}: ${o.message}`);
    else if (o.status === "rejected" && !quiet) console.log(`  REJECTED ${o.test}: ${o.message}`);
  }
}

const cedarRoot = join(conformanceDir(), "cedar");
const known = new Set(knownValidationChanges().tests);
console.log(`Cedar ${cedarVersion()}; suites at ${cedarRoot}`);
console.log(CEDAR_SEMANTICS_NOTE);

const hand = runCedarTests(cedarRoot, handWrittenTests(cedarRoot), known);
report("hand-written", hand);

const corpus = extractCorpus(cedarRoot);
let corpusSummary: SuiteSummary;
try {
  const tests = sample === undefined ? corpus.tests : corpusSample(corpus.tests, sample);
  const started = Date.now();
  corpusSummary = runCedarTests(corpus.root, tests, known, (_o, i) => {
    if (!quiet && (i + 1) % 1000 === 0) console.log(`  ... ${i + 1}/${tests.length} corpus tests`);
  });
  report(sample === undefined ? "corpus" : `corpus sample (${sample})`, corpusSummary);
  console.log(`corpus run took ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  corpus.remove();
}
process.exitCode = hand.failed + corpusSummary.failed > 0 ? 1 : 0;
