/**
 * Cedar policies as text: a policy file split into its policies and templates, and a policy set
 * validated against a schema (Cedar's strict mode).
 */
import { policySetTextToPartsInWorker, SPLIT_IN_WORKER_CHARS } from "./split-worker.js";
import { CedarParseError, type CedarIssue, type PolicySetInput, type PolicySource, type SchemaJson } from "./types.js";
import { cedar, toCedarPolicySet, toIssues } from "./wasm.js";

/**
 * Splits the text of one `.cedar` file into its policies and templates, in file order.
 * @param options.inWorker split in a short-lived worker thread (default: when the text has at
 *   least {@link SPLIT_IN_WORKER_CHARS} characters; see `./split-worker.ts`); the answer is the
 *   same either way
 * @throws CedarParseError naming Cedar's parse errors (offsets are into `text`)
 */
export function splitPolicies(text: string, options: { inWorker?: boolean } = {}): PolicySource[] {
  const inWorker = options.inWorker ?? text.length >= SPLIT_IN_WORKER_CHARS;
  const parts = inWorker ? policySetTextToPartsInWorker(text) : cedar.policySetTextToParts(text);
  if (parts.type === "failure") throw new CedarParseError("policies do not parse", toIssues(parts.errors));
  const out: PolicySource[] = [];
  for (const [list, isTemplate] of [
    [parts.policies, false],
    [parts.policy_templates, true],
  ] as const) {
    for (const p of list) {
      const json = isTemplate ? cedar.templateToJson(p) : cedar.policyToJson(p);
      if (json.type === "failure") throw new CedarParseError("policy does not parse", toIssues(json.errors));
      out.push({ text: p, annotations: (json.json.annotations ?? {}) as Record<string, string>, isTemplate, json: json.json });
    }
  }
  return out;
}

/**
 * Validates a policy set against a schema in Cedar's strict mode.
 * @returns the validation errors (empty when the set is valid) and warnings
 * @throws CedarParseError when the schema or the policies do not parse at all
 */
export function validatePolicySet(schema: SchemaJson, set: PolicySetInput): { errors: CedarIssue[]; warnings: CedarIssue[] } {
  const answer = cedar.validate({
    schema: schema as cedar.Schema,
    policies: toCedarPolicySet(set),
    validationSettings: { mode: "strict" },
  });
  if (answer.type === "failure") throw new CedarParseError("policy set cannot be validated", toIssues(answer.errors));
  const errors = answer.validationErrors.flatMap((e) => toIssues([e.error], e.policyId));
  const warnings = [
    ...answer.validationWarnings.flatMap((e) => toIssues([e.error], e.policyId)),
    ...toIssues(answer.otherWarnings),
  ];
  return { errors, warnings };
}
