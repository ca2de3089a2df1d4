/**
 * Records evaluations and builds their answers: the one path every decision endpoint takes
 * (Verdict's own API and AuthZEN), so every decision is recorded the same way. An answer exists
 * only once its decision is recorded; otherwise the caller gets an error and must treat it as a
 * deny: a 503 `unavailable` when the database could not take it, a 400 `unrecordable_input` when
 * the database refused the request's own data (the writer isolates such a row, so it fails no
 * other caller). Neither error carries the database's text (which holds the query and the batch's
 * records): fixed sentences only; the cause goes to the server's log.
 */
import type { Span } from "@opentelemetry/api";
import type { Context } from "hono";
import { v7 as uuidv7 } from "uuid";
import { callerOf } from "../http/key-auth.js";
import type { CallCredential, DecisionResponse } from "../contract/wire.js";
import type { AppDeps, AppEnv } from "../http/app.js";
import { VerdictError } from "../http/errors.js";
import type { DecisionKind } from "../metrics/metrics.js";
import type { Evaluation } from "./evaluation.js";
import { callerContext, endDecideSpan, startDecideSpan, traceIdOf } from "../tracing/tracing.js";
import { RecordError } from "../decision-log/writer.js";
import { toRecord, type DecisionMeta } from "../decision-log/record.js";

/** One evaluation to record, with what the HTTP layer adds to it (identity, a minted credential). */
export interface ToRecord {
  evaluation: Evaluation;
  meta?: Partial<Pick<DecisionMeta, "id" | "identity" | "delegation" | "credentialJti">>;
  credential?: CallCredential;
}

/** The message of a 503 for a decision the database could not take (a fixed sentence). */
export const NOT_RECORDED_MESSAGE = "the decision could not be recorded; no decision was made, treat this as a deny";
/** The message of a 400 for a decision whose data the database refused (a fixed sentence). */
export const REFUSED_MESSAGE = "the database refused this request's data, so its decision could not be recorded; no decision was made, treat this as a deny";

/**
 * Records evaluations (they join one batch of the group commit) and builds their answers, in order.
 * The record's `caller` names the API key the request came with. Items of one request that were
 * recorded stay recorded when another item of it fails (the request as a whole gets the error).
 * @param items evaluations, each with the identity, delegation and credential the HTTP layer adds
 * @param time the instant the request was received (the records' `time`)
 * @param kind what `/metrics` counts the decisions as (default: each evaluation's own kind)
 * @throws VerdictError `unavailable` (503) when any of them cannot be recorded because of the
 *   database; `unrecordable_input` (400) when the only failures are records the database refused
 *   for their own data (or that cannot be hashed)
 */
export async function recordEvaluations(
  deps: Pick<AppDeps, "log" | "masking" | "metrics" | "tracer">,
  c: Context<AppEnv>,
  items: ToRecord[],
  time: Date,
  kind?: DecisionKind,
): Promise<DecisionResponse[]> {
  const key = c.get("apiKey");
  // The caller's trace (header read only when sent); a span per decision only when tracing is on.
  const parent = callerContext(c.req.header("traceparent"), c.req.header("tracestate"));
  const tracer = deps.tracer;
  const spans = tracer ? items.map(({ evaluation: e }) => startDecideSpan(tracer, parent, e, time)) : undefined;
  const callerTraceId = traceIdOf(parent) ?? null;
  // Masking rewrites the record only, after the decision (decisions/masking.ts).
  const records = unlessThrows(spans, () => items.map(({ evaluation, meta }, i) => {
    const record = recordOf(evaluation, {
      id: meta?.id ?? uuidv7(),
      time,
      caller: key ? callerOf(key) : null,
      requestId: c.get("requestId") ?? null,
      delegation: meta?.delegation ?? [],
      identity: meta?.identity ?? null,
      credentialJti: meta?.credentialJti ?? null,
      traceId: spans ? spans[i]!.spanContext().traceId : callerTraceId,
    });
    return deps.masking ? deps.masking.apply(record) : record;
  }));
  const settled = await Promise.allSettled(records.map((r) => deps.log.append(r)));
  spans?.forEach((span, i) =>
    endDecideSpan(
      span,
      settled[i]!.status === "fulfilled"
        ? { decision: items[i]!.evaluation.decision, decisionId: records[i]!.id, policySetVersion: items[i]!.evaluation.policySetVersion }
        : { error: "not recorded" },
    ),
  );
  const failed = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected").map((s) => s.reason as unknown);
  if (failed.length) {
    if (failed.every((e) => e instanceof RecordError && e.reason === "refused")) {
      throw new VerdictError("unrecordable_input", REFUSED_MESSAGE, undefined, { cause: failed[0] });
    }
    throw new VerdictError("unavailable", NOT_RECORDED_MESSAGE, undefined, { cause: failed.find((e) => !(e instanceof RecordError && e.reason === "refused")) });
  }
  // Counted here, once every record is written: exactly the decisions made (an error made none).
  c.set("decisionIds", records.map((r) => r.id));
  const startedAt = c.get("startedAt");
  const seconds = startedAt === undefined ? undefined : (performance.now() - startedAt) / 1000;
  for (const [k, group] of groupByKind(items.map((i) => i.evaluation), kind)) deps.metrics?.decided(k, group, seconds);
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

/** `build()`, ending the spans as failed when it throws (a request refused before any record). */
function unlessThrows<T>(spans: Span[] | undefined, build: () => T): T {
  try {
    return build();
  } catch (e) {
    spans?.forEach((span) => endDecideSpan(span, { error: "not recorded" }));
    throw e;
  }
}

/**
 * `toRecord`, with a failure to build the record (arguments that canonical JSON cannot hash,
 * such as a lone surrogate the wire let through) reported as the request's data refused.
 */
function recordOf(...args: Parameters<typeof toRecord>): ReturnType<typeof toRecord> {
  try {
    return toRecord(...args);
  } catch (e) {
    throw new VerdictError("unrecordable_input", REFUSED_MESSAGE, undefined, { cause: e });
  }
}

/** Evaluations by the kind `/metrics` counts them as (one group unless a batch mixes kinds). */
function groupByKind(evaluations: Evaluation[], kind: DecisionKind | undefined): Map<DecisionKind, Evaluation[]> {
  const out = new Map<DecisionKind, Evaluation[]>();
  for (const e of evaluations) {
    const k = kind ?? e.kind;
    const group = out.get(k);
    if (group) group.push(e);
    else out.set(k, [e]);
  }
  return out;
}
