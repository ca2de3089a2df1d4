/**
 * Cedar's own integration tests, through Verdict's engine adapter: every hand-written test and a
 * fixed sample of 600 corpus tests (the full corpus runs with `npm run conformance:cedar`).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conformanceDir } from "../../tools/conformance/suites.js";
import {
  corpusSample,
  extractCorpus,
  handWrittenTests,
  knownValidationChanges,
  runCedarTest,
  runCedarTests,
  type ExtractedCorpus,
  type SuiteSummary,
} from "../../tools/conformance/cedar-suite.js";

const cedarRoot = join(conformanceDir(), "cedar");
const known = knownValidationChanges();
const knownSet = new Set(known.tests);
const SAMPLE = 600;

const failures = (s: SuiteSummary) => s.outcomes.filter((o) => o.status === "failed").map((o) => `${o.test}: ${o.message}`);

describe("Cedar hand-written tests", () => {
  it("agree with Cedar on all 22 tests and 74 requests", () => {
    const tests = handWrittenTests(cedarRoot);
    const s = runCedarTests(cedarRoot, tests, knownSet);
    console.log(`hand-written: ${s.tests} tests, ${s.passed} passed, ${s.requestsPassed}/${s.requests} requests agree`);
    expect(failures(s)).toEqual([]);
    expect(s).toMatchObject({ tests: 22, passed: 22, rejected: 0, requests: 74, requestsPassed: 74, validationAgreed: 22 });
  });
});

describe("Cedar corpus (fixed sample)", () => {
  let corpus: ExtractedCorpus;
  beforeAll(() => {
    corpus = extractCorpus(cedarRoot);
  });
  afterAll(() => corpus?.remove());

  it(`agrees with Cedar on every request of ${SAMPLE} corpus tests, rejecting those with integers beyond ±2^53`, () => {
    expect(corpus.tests).toHaveLength(7809);
    const sample = corpusSample(corpus.tests, SAMPLE);
    expect(sample).toHaveLength(SAMPLE);
    const s = runCedarTests(corpus.root, sample, knownSet);
    console.log(
      `corpus sample: ${s.tests} tests, ${s.passed} passed, ${s.rejected} rejected (big integers), ` +
        `${s.requestsPassed}/${s.requests} requests agree, ${s.validationKnownChanges} known validation changes`,
    );
    expect(failures(s)).toEqual([]);
    expect(s.requestsFailed).toBe(0);
    expect(s.requests).toBeGreaterThan(4000);
    expect(s.passed + s.rejected).toBe(SAMPLE);
    for (const o of s.outcomes.filter((x) => x.status === "rejected")) expect(o.message).toMatch(/beyond ±2\^53/);
  });

  it("rejects a test holding an integer beyond ±2^53 instead of deciding on a rounded number", () => {
    const bigInteger = "corpus-tests/e0d89754376e8cec510abaa4ffb5ba0847fb73dc.json";
    const o = runCedarTest(corpus.root, bigInteger, knownSet);
    expect(o.status).toBe("rejected");
    expect(o.message).toMatch(/9223372036854775807 is beyond ±2\^53/);
    expect(o.requests).toEqual([]);
  });

  it("lists exactly the tests whose validation changed meaning in Cedar 4.13, each still failing without the list", () => {
    expect(known.tests).toHaveLength(35);
    expect(known.reason).toMatch(/#2545/);
    // The list is not a blanket excuse: without it, each listed test fails on validation alone.
    for (const test of known.tests.slice(0, 5)) {
      const o = runCedarTest(corpus.root, test);
      expect(o.status).toBe("failed");
      expect(o.validation).toEqual({ expected: false, actual: true, known: false });
      expect(runCedarTest(corpus.root, test, knownSet).validation?.known).toBe(true);
    }
  });
});
