/**
 * Records evaluations and builds their answers: the one path every decision endpoint takes
 * (Verdict's own API and AuthZEN), so every decision is recorded the same way. An answer exists
 * only once its decision is recorded; otherwise the caller gets a 503 and must treat it as a deny.
 */
import type { Context } from "hono";
import { v7 as uuidv7 } from "uuid";
import { callerOf } from "../auth/middleware.js";
import type { CallCredential, DecisionResponse } from "../contract/wire.js";
import type { AppDeps, AppEnv } from "../http/app.js";
import { VerdictError } from "../http/errors.js";
import type { Evaluation } from "../pdp/evaluation.js";
import { RecordError } from "./log.js";
import { toRecord, type DecisionMeta } from "./record.js";

/** One evaluation to record, with what the HTTP layer adds to it (identity, a minted credential). */
export interface ToRecord {
  evaluation: Evaluation;
  meta?: Partial<Pick<DecisionMeta, "id" | "identity" | "delegation" | "credentialJti">>;
  credential?: CallCredential;
}

/**
 * Records evaluations (they join one batch of the group commit) and builds their answers, in order.
 * The record's `caller` names the API key the request came with.
 * @param items evaluations, each with the identity, delegation and credential the HTTP layer adds
 * @param time the instant the request was received (the records' `time`)
 * @throws VerdictError `unavailable` (503) when any of them cannot be recorded
 */
export async function recordEvaluations(
  deps: Pick<AppDeps, "log" | "masking">,
  c: Context<AppEnv>,
  items: ToRecord[],
  time: Date,
): Promise<DecisionResponse[]> {
  const key = c.get("apiKey");
  // Masking rewrites the record only, after the decision (decisions/masking.ts).
  const records = items.map(({ evaluation, meta }) => {
    const record = toRecord(evaluation, {
      id: meta?.id ?? uuidv7(),
      time,
      caller: key ? callerOf(key) : null,
      requestId: c.get("requestId") ?? null,
      delegation: meta?.delegation ?? [],
      identity: meta?.identity ?? null,
      credentialJti: meta?.credentialJti ?? null,
    });
    return deps.masking ? deps.masking.apply(record) : record;
  });
  const settled = await Promise.allSettled(records.map((r) => deps.log.append(r)));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    const reason = failed.reason instanceof RecordError ? failed.reason.message : "decision could not be recorded";
    throw new VerdictError("unavailable", `${reason}; no decision was made, treat this as a deny`);
  }
  return items.map(({ evaluation: e, credential }, i) => ({
    decision: e.decision,
    decisionId: records[i]!.id,
    policySetVersion: e.policySetVersion,
    reasons: e.reasons,
    errors: e.errors,
    obligations: e.obligations,
    message: e.message,
    ...(credential ? { credential } : {}),
  }));
}
