/**
 * The decision path of every endpoint that decides (Verdict's own API and AuthZEN): evaluate,
 * record through the decision log, answer. {@link decideToolCall} and {@link decideAuthorize}
 * evaluate a question and pass it to {@link recordEvaluations}, which builds each record
 * ({@link toRecord}), appends it to the decision log and builds the answers; AuthZEN evaluates
 * in its own mapping and records the same way. So every decision is recorded the same way, and
 * the decision log (`src/decision-log/`) knows records, not evaluations.
 *
 * An answer exists only once its decision is recorded; otherwise the caller gets an error and
 * must treat it as a deny: a 503 `unavailable` when the database could not take it, a 400
 * `unrecordable_input` when the database refused the request's own data (the writer isolates such
 * a row, so it fails no other caller). Neither error carries the database's text (which holds the
 * query and the batch's records): fixed sentences only; the cause goes to the server's log.
 */
import type { Span } from "@opentelemetry/api";
import type { Context } from "hono";
import { v7 as uuidv7 } from "uuid";
import { canonicalSha256 } from "../contract/canonical.js";
import type { CallCredential, DecisionResponse } from "../contract/decision.js";
import type { DelegationActor, RecordedIdentity } from "../contract/decision-log.js";
import { mintCallCredential } from "../credentials/mint.js";
import type { UnchainedRecord } from "../decision-log/record.js";
import { RecordError } from "../decision-log/writer.js";
import type { AppDeps, AppEnv } from "../http/deps.js";
import { VerdictError } from "../http/errors.js";
import { callerOf } from "../http/key-auth.js";
import { toRecordedIdentity, type IdentityFailure, type ResolvedIdentity } from "../identity/resolve.js";
import type { DecisionKind } from "../metrics/metrics.js";
import { callerContext, endDecideSpan, startDecideSpan, traceIdOf } from "../tracing/tracing.js";
import { EntityConflictError, evaluateAuthorize, type AuthorizeQuestion } from "./authorize.js";
import type { Evaluation } from "./evaluation.js";
import { readsHistory, type History } from "./history.js";
import type { PolicySet } from "../policy/policy-set.js";
import { obligationOf, type ApprovalStore } from "../approvals/store.js";
import type { Approval } from "../contract/approvals.js";
import { evaluateToolCall, type ToolCallQuestion } from "./tool-call.js";

/** Who asked and how: what the HTTP layer knows about a decision that the evaluation does not. */
export interface DecisionMeta {
  id: string;
  time: Date;
  caller: string | null;
  requestId: string | null;
  /** The delegation chain, outermost actor first. */
  delegation: DelegationActor[];
  /** How the agent and the user were identified; null for `/v1/authorize`. */
  identity: RecordedIdentity | null;
  /** The `jti` of the credential minted with the decision, if any. */
  credentialJti: string | null;
  /** The W3C trace id the decision belongs to (docs/tracing.md); absent or null: none. */
  traceId?: string | null;
}

/**
 * Builds the record of an evaluation (DESIGN.md "Decision record"; arguments hashed canonically
 * before any masking): the one place an evaluation becomes a record.
 * @throws Error when the arguments cannot be hashed (a value canonical JSON cannot hold)
 */
export function toRecord(e: Evaluation, meta: DecisionMeta): UnchainedRecord {
  return {
    id: meta.id,
    time: meta.time.toISOString(),
    kind: e.kind,
    agent: e.agent,
    user: e.user,
    delegation: meta.delegation,
    server: e.server,
    tool: e.tool,
    action: e.action,
    arguments: e.arguments ?? null,
    argumentsSha256: canonicalSha256(e.arguments ?? null),
    task: e.task,
    decision: e.decision,
    reasons: e.reasons,
    errors: e.errors,
    obligations: e.obligations,
    message: e.message,
    policySetVersion: e.policySetVersion,
    caller: meta.caller,
    identity: meta.identity,
    credentialJti: meta.credentialJti,
    requestId: meta.requestId,
    evaluationMicros: e.evaluationMicros,
    request: e.request,
    traceId: meta.traceId ?? null,
  };
}

/**
 * The evaluation as a deny naming the proof `VERDICT_REQUIRE_VERIFIED` demands, for a request
 * that carries no tokens (`/v1/authorize`, AuthZEN); the evaluation itself when none is demanded.
 */
export function unlessUnproven(evaluation: Evaluation, failure: IdentityFailure | null): Evaluation {
  return failure ? { ...evaluation, decision: "deny", reasons: [failure.reason], errors: [], message: failure.message } : evaluation;
}

/** The failure `VERDICT_REQUIRE_VERIFIED` imposes on a request without tokens (null: none, or no resolver). */
export function proofMissing(deps: Pick<AppDeps, "identity">): IdentityFailure | null {
  return deps.identity?.requirementFailure(false, false) ?? null;
}

/**
 * Decides one `tools/call`: evaluates it (Verdict's checks, then Cedar), mints the per-call
 * credential when asked for and the call is allowed, records the decision and answers. A call
 * naming a task that has ended (`deps.tasks`) is denied `verdict:task-ended` first. When a
 * policy that can apply reads `context.session.history` (`readsHistory`), the history is first
 * read from the decision log (`deps.history`, one statement), and the read, the evaluation and
 * the commit of the record run under the task's lock of this replica, and an allow committed
 * more than `deps.history.maxAgeMs` after the read started is answered 503 (the record stays:
 * a later call's history counts it, which only makes rules stricter); otherwise no history is
 * read. Without `deps.history` no history is read and such a call is denied
 * (`verdict:history-unavailable`).
 * @param q the question with the ids `who` resolved
 * @param who how the agent and the user were identified (tokens already verified and dropped)
 * @param time the instant the request was received
 * @param wantsCredential whether the request asked for a credential (`credential: true`)
 * @throws VerdictError `unavailable` (503) when the ended tasks or the history cannot be read, or an allow committed
 *   too long after it was read, the credential cannot
 *   be minted or the decision cannot be recorded (never an allow); `unrecordable_input` (400)
 *   when the database refused its data
 */
export async function decideToolCall(
  deps: Pick<AppDeps, "policies" | "drift" | "signingKeys" | "issuer" | "credentialTtlSeconds" | "log" | "masking" | "metrics" | "tracer" | "history" | "tasks" | "approvals" | "logger">,
  c: Context<AppEnv>,
  q: ToolCallQuestion,
  who: ResolvedIdentity,
  time: Date,
  wantsCredential: boolean,
): Promise<DecisionResponse> {
  const ps = deps.policies.get();
  // An ended task (src/tasks/ends.ts) is denied before anything else, and its history is not read.
  if (q.task && deps.tasks) {
    let ended: boolean;
    try {
      ended = await deps.tasks.isEnded(q.task.id);
    } catch (e) {
      deps.logger?.error({ err: (e as Error).message }, "ended tasks could not be read");
      throw new VerdictError("unavailable", TASK_UNREAD_MESSAGE, undefined, { cause: e });
    }
    if (ended) return decideWith(deps, c, ps, q, who, time, wantsCredential, undefined, true);
  }
  const history = deps.history;
  if (!history || !readsHistory(ps, `${q.server}/${q.tool}`)) return decideWith(deps, c, ps, q, who, time, wantsCredential, undefined);
  // Task memory (src/pdp/history.ts): read, decide and commit under the task's lock, so the
  // next call of the task in this replica sees this one.
  return history.serialise(q.task?.id, async () => {
    const readAt = performance.now();
    let seen: History;
    try {
      seen = await history.read(ps, q, time);
    } catch (e) {
      deps.logger?.error({ err: (e as Error).message }, "task history could not be read");
      throw new VerdictError("unavailable", HISTORY_UNREAD_MESSAGE, undefined, { cause: e });
    }
    const answer = await decideWith(deps, c, ps, q, who, time, wantsCredential, seen);
    // An allow decided on a history older than the bound is not given (docs/task-memory.md).
    if (answer.decision === "allow" && performance.now() - readAt > history.maxAgeMs) {
      history.stats.stale++;
      deps.logger?.warn({ decisionId: answer.decisionId, maxAgeMs: history.maxAgeMs }, "allow committed too long after its history read; answered 503");
      throw new VerdictError("unavailable", HISTORY_STALE_MESSAGE);
    }
    return answer;
  });
}

/** The message of a 503 for a decision whose task could not be looked up among the ended ones (a fixed sentence). */
export const TASK_UNREAD_MESSAGE = "whether the task has ended could not be read from the database; no decision was made, treat this as a deny";
/** The message of a 503 for a decision whose task history could not be read (a fixed sentence). */
export const HISTORY_UNREAD_MESSAGE = "the task history could not be read from the decision log; no decision was made, treat this as a deny";
/** The message of a 503 for an allow committed too long after its history was read (a fixed sentence). */
export const HISTORY_STALE_MESSAGE = "the decision took too long to commit after its task history was read, so another replica may have decided a call of the task meanwhile; treat this as a deny and retry";

/** {@link decideToolCall} once the history, if any is needed, is known. */
async function decideWith(
  deps: Pick<AppDeps, "drift" | "signingKeys" | "issuer" | "credentialTtlSeconds" | "log" | "masking" | "metrics" | "tracer" | "approvals">,
  c: Context<AppEnv>,
  ps: PolicySet,
  q: ToolCallQuestion,
  who: ResolvedIdentity,
  time: Date,
  wantsCredential: boolean,
  history: History | undefined,
  taskEnded = false,
): Promise<DecisionResponse> {
  let evaluation = evaluateToolCall(ps, q, time, who, deps.drift?.lookup, history, taskEnded);
  const id = uuidv7();
  // Denied only by approvable forbids: an approval of this exact call allows it once, else its request is named.
  let used: Approval | undefined;
  if (evaluation.approvable && deps.approvals) {
    const resolved = await resolveApproval(deps.approvals, c, ps, evaluation, who, id, time);
    evaluation = resolved.evaluation;
    used = resolved.used;
  }
  let credential: CallCredential | undefined;
  if (wantsCredential && evaluation.decision === "allow") {
    try {
      credential = await mintCallCredential(deps.signingKeys, {
        issuer: deps.issuer(),
        decisionId: id,
        agent: evaluation.agent,
        user: evaluation.user,
        server: evaluation.server,
        tool: evaluation.tool,
        argumentsSha256: canonicalSha256(evaluation.arguments ?? null),
        task: evaluation.task,
        now: time,
        ttlSeconds: deps.credentialTtlSeconds ?? 60,
      });
    } catch (e) {
      throw new VerdictError("unavailable", "credential could not be minted; no decision was made, treat this as a deny", undefined, { cause: e });
    }
  }
  const meta = { id, identity: toRecordedIdentity(who), delegation: who.delegation, credentialJti: credential?.jti ?? null };
  try {
    const [answer] = await recordEvaluations(deps, c, [{ evaluation, credential, meta }], time);
    return answer!;
  } catch (e) {
    // Not recorded, so not allowed: the approval it would have used is still unused.
    if (used) await deps.approvals!.unuse(used.id, id);
    throw e;
  }
}

/** The message of a 503 for a call whose approval could not be looked up or requested (a fixed sentence). */
export const APPROVAL_UNAVAILABLE_MESSAGE = "the call needs an approval, and approvals could not be read or requested; no decision was made, treat this as a deny";

/**
 * An approvable deny (`evaluation.approvable`) resolved against the approvals: allowed once when
 * an approval of this exact call is used by it (its `approval` obligation names the approval,
 * who approved it and when), else still denied, naming the call's request (new, pending or
 * denied) in its `approval` obligation.
 * @throws VerdictError `unavailable` (503) when the approvals cannot be read or the request stored
 */
async function resolveApproval(
  approvals: ApprovalStore,
  c: Context<AppEnv>,
  ps: PolicySet,
  evaluation: Evaluation,
  who: ResolvedIdentity,
  decisionId: string,
  time: Date,
): Promise<{ evaluation: Evaluation; used?: Approval }> {
  const a = evaluation.approvable!;
  const key = c.get("apiKey");
  let resolved;
  try {
    resolved = await approvals.resolve(
      {
        agent: evaluation.agent,
        user: evaluation.user,
        delegation: who.delegation,
        server: evaluation.server,
        tool: evaluation.tool,
        definitionSha256: evaluation.definitionHash!,
        arguments: evaluation.arguments ?? null,
        argumentsSha256: canonicalSha256(evaluation.arguments ?? null),
        task: evaluation.task,
        groups: a.groups,
        policies: a.policies,
      },
      decisionId,
      { now: time, caller: key ? callerOf(key) : null, requestId: c.get("requestId") ?? null, policySetVersion: ps.version },
    );
  } catch (e) {
    throw new VerdictError("unavailable", APPROVAL_UNAVAILABLE_MESSAGE, undefined, { cause: e });
  }
  const obligation = obligationOf(resolved.approval);
  if (resolved.kind === "use") {
    const approval = resolved.approval;
    return {
      used: approval,
      evaluation: {
        ...evaluation,
        decision: "allow",
        reasons: a.allowedBy,
        obligations: [obligation],
        message: `allowed once by approval ${approval.id} (approved by ${approval.decidedBy} at ${approval.decidedAt}; lifts ${a.policies.join(", ")}); allowed by ${a.allowedBy.join(", ")}`,
      },
    };
  }
  const state = resolved.approval.status === "denied" ? `was denied by ${resolved.approval.decidedBy}` : `is pending until ${resolved.approval.expiresAt}`;
  return { evaluation: { ...evaluation, obligations: [obligation], message: `${evaluation.message}: approval request ${resolved.approval.id} ${state}` } };
}

/**
 * Decides Cedar requests (`/v1/authorize`, `/v1/authorize/batch`) against one policy set: each
 * is evaluated, denied when `VERDICT_REQUIRE_VERIFIED` demands a proof (these requests carry no
 * tokens), recorded, and answered, in order.
 * @param time the instant the request was received
 * @throws VerdictError `bad_request` (400) when a request's entities conflict with Verdict's
 *   (nothing is recorded then); `unavailable` (503) or `unrecordable_input` (400) as
 *   {@link recordEvaluations}
 */
export async function decideAuthorize(
  deps: Pick<AppDeps, "policies" | "identity" | "log" | "masking" | "metrics" | "tracer">,
  c: Context<AppEnv>,
  questions: AuthorizeQuestion[],
  time: Date,
): Promise<DecisionResponse[]> {
  const ps = deps.policies.get();
  const items = questions.map((q): ToRecord => {
    let evaluation: Evaluation;
    try {
      evaluation = evaluateAuthorize(ps, q, time);
    } catch (e) {
      if (e instanceof EntityConflictError) throw new VerdictError("bad_request", e.message);
      throw e;
    }
    return { evaluation: unlessUnproven(evaluation, proofMissing(deps)) };
  });
  return recordEvaluations(deps, c, items, time);
}

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
  // Masking rewrites the record only, after the decision (src/decision-log/masking.ts).
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
