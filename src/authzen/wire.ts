/**
 * The wire shapes of OpenID AuthZEN Authorization API 1.0 (access evaluation, access
 * evaluations, PDP metadata) as zod schemas. Unknown fields are ignored (zod objects strip
 * them), as the specification asks of a PDP.
 */
import { z } from "zod";
import { BATCH_MAX, boundedString, ID_MAX, TYPE_MAX } from "../contract/limits.js";
import { CedarContext } from "../contract/decision.js";

/** An AuthZEN `id` or action `name`: recorded and indexed, so bounded (`ID_MAX`, docs/limits.md). */
const name = boundedString(ID_MAX);
/** An AuthZEN `type` (`user`, `Todo::User`): bounded (`TYPE_MAX`). */
const type = boundedString(TYPE_MAX);
/** `properties` of a subject, resource or action: any JSON object (AuthZEN 1.0 "Information Model"). */
const Properties = z.record(z.string(), z.unknown());

/** AuthZEN 1.0 "Subject": `{type, id, properties?}`. */
export const Subject = z.object({ type, id: name, properties: Properties.optional() });
export type Subject = z.infer<typeof Subject>;

/** AuthZEN 1.0 "Resource": `{type, id, properties?}`. */
export const Resource = z.object({ type, id: name, properties: Properties.optional() });
export type Resource = z.infer<typeof Resource>;

/** AuthZEN 1.0 "Action": `{name, properties?}`. */
export const Action = z.object({ name, properties: Properties.optional() });
export type Action = z.infer<typeof Action>;

/**
 * AuthZEN 1.0 "Context": any JSON object; a Cedar `session.user` and `session.task` in it are
 * bounded as on `/v1/authorize` (they are recorded).
 */
export const Context = CedarContext;

/**
 * Options Verdict reads. `evaluations_semantic` is AuthZEN 1.0's ("Evaluations semantics"); `verdict_context`
 * is Verdict's own: when true, each decision carries a `context` with Verdict's decision id,
 * policy-set version, determining policies and explanation.
 */
export const Options = z.object({
  evaluations_semantic: z.enum(["execute_all", "deny_on_first_deny", "permit_on_first_permit"]).default("execute_all"),
  verdict_context: z.boolean().default(false),
});
export type Options = z.infer<typeof Options>;

/** `POST /access/v1/evaluation` body (AuthZEN 1.0 "Access Evaluation API"). */
export const EvaluationRequest = z.object({
  subject: Subject,
  action: Action,
  resource: Resource,
  context: Context.optional(),
  options: Options.default({ evaluations_semantic: "execute_all", verdict_context: false }),
});
export type EvaluationRequest = z.input<typeof EvaluationRequest>;

/** One evaluation, once defaults are applied: the AuthZEN 4-tuple. */
export interface Evaluation4 {
  subject: Subject;
  action: Action;
  resource: Resource;
  context?: Record<string, unknown>;
}

/** The most evaluations one `POST /access/v1/evaluations` may carry (as `/v1/authorize/batch`). */
export const MAX_EVALUATIONS = BATCH_MAX;

/**
 * `POST /access/v1/evaluations` body (AuthZEN 1.0 "Access Evaluations API", "Default values"): top-level `subject`, `action`,
 * `resource` and `context` are defaults that each item of `evaluations` may override, key by key.
 */
export const EvaluationsRequest = z.object({
  subject: Subject.optional(),
  action: Action.optional(),
  resource: Resource.optional(),
  context: Context.optional(),
  evaluations: z
    .array(z.object({ subject: Subject.optional(), action: Action.optional(), resource: Resource.optional(), context: Context.optional() }))
    .max(MAX_EVALUATIONS)
    .optional(),
  options: Options.default({ evaluations_semantic: "execute_all", verdict_context: false }),
});
export type EvaluationsRequest = z.input<typeof EvaluationsRequest>;

/** Verdict's `context` on a decision (only with `options.verdict_context`). */
export const DecisionContext = z.object({
  decision_id: z.string(),
  policy_set_version: z.string(),
  reasons: z.array(z.string()),
  message: z.string().optional(),
});

/** AuthZEN 1.0 access evaluation response: `{"decision": true | false}`. */
export const EvaluationResponse = z.object({ decision: z.boolean(), context: DecisionContext.optional() });
export type EvaluationResponse = z.infer<typeof EvaluationResponse>;

/** AuthZEN 1.0 access evaluations response: one decision per evaluation, in order. */
export const EvaluationsResponse = z.object({ evaluations: z.array(EvaluationResponse) });
export type EvaluationsResponse = z.infer<typeof EvaluationsResponse>;

/** AuthZEN 1.0 "Policy Decision Point Metadata" (`GET /.well-known/authzen-configuration`). */
export const Configuration = z.object({
  policy_decision_point: z.string(),
  access_evaluation_endpoint: z.string(),
  access_evaluations_endpoint: z.string(),
});
export type Configuration = z.infer<typeof Configuration>;
