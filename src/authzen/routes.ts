/**
 * OpenID AuthZEN Authorization API 1.0 endpoints, so that any AuthZEN enforcement point can use
 * Verdict without Verdict's SDK:
 * - `POST /access/v1/evaluation`: one decision, `{"decision": true | false}`; a deny is a 200.
 * - `POST /access/v1/evaluations`: several, with top-level defaults and `options.evaluations_semantic`.
 * - `GET /.well-known/authzen-configuration`: the PDP metadata, at the configured public URL.
 * Every decision is recorded like any other (same record, same group commit); when it cannot be
 * recorded the answer is a 503, never an unrecorded decision. `X-Request-ID` is echoed by the
 * app's request-id middleware.
 */
import { Hono, type Context } from "hono";
import { proofMissing, recordEvaluations, TASK_UNREAD_MESSAGE, unlessUnproven } from "../pdp/decide.js";
import type { AppDeps, AppEnv } from "../http/deps.js";
import { VerdictError } from "../http/errors.js";
import { readBody } from "../http/validate.js";
import type { Evaluation } from "../pdp/evaluation.js";
import { evaluateAuthzen, mcpTaskId } from "./mapping.js";
import {
  EvaluationRequest,
  EvaluationsRequest,
  type Configuration,
  type Evaluation4,
  type EvaluationResponse,
  type EvaluationsResponse,
  type Options,
} from "./wire.js";

/** Paths of the AuthZEN endpoints. */
export const AUTHZEN_PATHS = {
  evaluation: "/access/v1/evaluation",
  evaluations: "/access/v1/evaluations",
  configuration: "/.well-known/authzen-configuration",
} as const;

/**
 * Applies the top-level defaults of an evaluations request to one item (AuthZEN 1.0 "Default
 * values": a key given in the item replaces the default as a whole).
 * @throws VerdictError `bad_request` naming the item that lacks a subject, action or resource
 */
export function withDefaults(
  defaults: Partial<Evaluation4>,
  item: Partial<Evaluation4>,
  index: number,
): Evaluation4 {
  const merged = {
    subject: item.subject ?? defaults.subject,
    action: item.action ?? defaults.action,
    resource: item.resource ?? defaults.resource,
    context: item.context ?? defaults.context,
  };
  const missing = (["subject", "action", "resource"] as const).filter((k) => merged[k] === undefined);
  if (missing.length) {
    throw new VerdictError("bad_request", `evaluations[${index}]: ${missing.join(", ")} missing, in the item and in the top-level defaults`);
  }
  return merged as Evaluation4;
}

/**
 * Which evaluations run under a semantic (AuthZEN 1.0 "Evaluations semantics"): all of them, or
 * those up to and including the first deny (`deny_on_first_deny`) or permit (`permit_on_first_permit`).
 */
export function evaluateInOrder(items: Evaluation4[], semantic: Options["evaluations_semantic"], evaluate: (e: Evaluation4) => Evaluation): Evaluation[] {
  const out: Evaluation[] = [];
  for (const item of items) {
    const e = evaluate(item);
    out.push(e);
    if (semantic === "deny_on_first_deny" && e.decision === "deny") break;
    if (semantic === "permit_on_first_permit" && e.decision === "allow") break;
  }
  return out;
}

export function authzenRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? (() => new Date());

  /** Decides, records, and answers in AuthZEN's shape. */
  async function decide(c: Context<AppEnv>, items: Evaluation4[], options: Options): Promise<EvaluationResponse[]> {
    const time = now();
    const ps = deps.policies.get();
    // AuthZEN carries no tokens: when VERDICT_REQUIRE_VERIFIED asks for a proof, every answer
    // is a deny naming it, as on `/v1/authorize`.
    const unproven = proofMissing(deps);
    // Ended tasks are denied here as on tools/call (src/tasks/ends.ts): looked up first, together.
    const ended = new Set<string>();
    const taskIds = [...new Set(items.map(mcpTaskId).filter((id): id is string => id !== undefined))];
    if (taskIds.length && deps.tasks) {
      try {
        const answers = await Promise.all(taskIds.map((id) => deps.tasks!.isEnded(id)));
        taskIds.forEach((id, i) => answers[i] && ended.add(id));
      } catch (e) {
        throw new VerdictError("unavailable", TASK_UNREAD_MESSAGE, undefined, { cause: e });
      }
    }
    const evaluate = (e: Evaluation4): Evaluation => unlessUnproven(evaluateAuthzen(ps, e, time, ended), unproven);
    const evaluations = evaluateInOrder(items, options.evaluations_semantic, evaluate);
    const answers = await recordEvaluations(deps, c, evaluations.map((evaluation) => ({ evaluation })), time, "authzen");
    return answers.map((a) => ({
      decision: a.decision === "allow",
      ...(options.verdict_context
        ? { context: { decision_id: a.decisionId, policy_set_version: a.policySetVersion, reasons: a.reasons, message: a.message } }
        : {}),
    }));
  }

  app.post(AUTHZEN_PATHS.evaluation, async (c) => {
    const body = await readBody(c, EvaluationRequest);
    const [answer] = await decide(c, [body], body.options);
    return c.json(answer satisfies EvaluationResponse | undefined);
  });

  app.post(AUTHZEN_PATHS.evaluations, async (c) => {
    const body = await readBody(c, EvaluationsRequest);
    // Without an `evaluations` array the request is a single evaluation (AuthZEN 1.0, backwards compatibility).
    if (!body.evaluations?.length) {
      const [answer] = await decide(c, [withDefaults(body, {}, 0)], body.options);
      return c.json(answer satisfies EvaluationResponse | undefined);
    }
    const items = body.evaluations.map((item, i) => withDefaults(body, item, i));
    const response: EvaluationsResponse = { evaluations: await decide(c, items, body.options) };
    return c.json(response);
  });

  app.get(AUTHZEN_PATHS.configuration, (c) => {
    // The configured public URL: never the request's Host header, which the caller chooses
    // (a forged one would be echoed into metadata that clients and caches trust).
    const origin = deps.publicUrl();
    const config: Configuration = {
      policy_decision_point: origin,
      access_evaluation_endpoint: origin + AUTHZEN_PATHS.evaluation,
      access_evaluations_endpoint: origin + AUTHZEN_PATHS.evaluations,
    };
    return c.json(config);
  });

  return app;
}
