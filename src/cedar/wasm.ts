/**
 * The one import of `@cedar-policy/cedar-wasm` in Verdict, the V8 setting it needs, and the
 * conversions between Verdict's Cedar types (`./types.ts`) and cedar-wasm's. Only the modules of
 * `src/cedar/` import it; everything else speaks `./types.ts`.
 */
import { setFlagsFromString } from "node:v8";
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import type { CedarIssue, PolicySetInput } from "./types.js";

// Node 20 (V8 11.3) aborts the whole process ("Fatal error: unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when optimized code that inlined a call into
// cedar-wasm deoptimizes: seen within seconds of load in the server, in tests and in the
// benchmark, and in about half the runs of the 7,809-test Cedar corpus. Not inlining JS-to-Wasm
// calls avoids that frame kind (no crash since, in 20,000-request load runs and full corpus runs);
// it is set before any code calling the engine is optimized, and costs nothing measurable.
setFlagsFromString("--no-turbo-inline-js-wasm-calls");

export { cedar };

/** The module cedar-wasm's Node build is loaded from, for the split worker to load its own instance. */
export const CEDAR_WASM_MODULE = "@cedar-policy/cedar-wasm/nodejs";

/** An error as cedar-wasm reports it (`DetailedError`): the parts Verdict keeps. */
type Detailed = { message: string; help?: string | null; sourceLocations?: Array<{ start: number; end: number }> };

/** cedar-wasm's errors as {@link CedarIssue}s, each with the first source location Cedar gives. */
export function toIssues(errors: Detailed[], policyId?: string): CedarIssue[] {
  return errors.map((e) => ({
    policyId,
    message: e.message,
    help: e.help ?? null,
    start: e.sourceLocations?.[0]?.start,
    end: e.sourceLocations?.[0]?.end,
  }));
}

/** A {@link PolicySetInput} in cedar-wasm's policy set form. */
export function toCedarPolicySet(set: PolicySetInput): cedar.PolicySet {
  return {
    staticPolicies: set.policies,
    templates: set.templates ?? {},
    templateLinks: (set.links ?? []).map((l) => ({ templateId: l.templateId, newId: l.newId, values: l.values })),
  };
}
