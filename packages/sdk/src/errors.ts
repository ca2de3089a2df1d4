/**
 * Why the SDK could not get a decision from Verdict. The SDK never throws for these: it turns
 * each into a deny that carries its cause, so a careless caller cannot turn a failure into an allow.
 */
import type { ErrorBody } from "./wire.js";

/**
 * The kind of failure:
 * - `timeout`: no answer within the client's timeout;
 * - `network`: the request could not be sent or the connection failed;
 * - `http`: Verdict answered with a status other than 200 (`status`, and `error` when the body
 *   was Verdict's error shape);
 * - `invalid-response`: a 200 whose body is not JSON or does not match the wire contract.
 */
export type FailureKind = "timeout" | "network" | "http" | "invalid-response";

/**
 * The cause of a deny that Verdict did not make itself (Verdict unreachable, slow, or broken).
 * `message` is the SDK's own sentence (for an `http` failure: the status and Verdict's error
 * code, never Verdict's message), safe to show an agent. `error` is Verdict's error body as it
 * came: for the PEP's own log only, never to be passed on to an agent or MCP client (an older or
 * faulty server could put SQL or other callers' records in its message).
 */
export interface FailureCause {
  kind: FailureKind;
  /** A sentence saying what went wrong, for logs and for the agent. */
  message: string;
  /** The HTTP status, for `http`. */
  status?: number;
  /** Verdict's error code (`unavailable`, `bad_request`, ...), for `http` when it sent its error shape. */
  code?: string;
  /** Verdict's error body (`{code, message, details?}`), for `http` when it sent one: for logs, never forwarded. */
  error?: ErrorBody["error"];
}

/** What each of Verdict's error codes means, in the SDK's words (README "Errors", docs/limits.md). */
const CODE_SENTENCES: Record<string, string> = {
  bad_request: "the request is invalid",
  invalid_json: "the body is not valid JSON",
  unauthorized: "the API key is missing, unknown or revoked",
  forbidden: "the API key's role may not make this request",
  not_found: "no such resource",
  payload_too_large: "the request body is too large",
  unrecordable_input: "the database refused the request's data, so the decision could not be recorded",
  unavailable: "Verdict could not decide and record the decision",
  internal: "Verdict failed internally",
};

/** A code is passed on only when it looks like one (a short snake_case word), else left out. */
const CODE = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * The cause as the SDK passes it on: for an `http` failure, a sentence made of the status and
 * Verdict's error code only (Verdict's own message stays in `error`, for logs), so that no text of
 * the server's reaches the agent. Other kinds are the SDK's own sentences already.
 */
export function publicCause(cause: FailureCause): FailureCause {
  if (cause.kind !== "http") return cause;
  const raw = cause.error?.code ?? cause.code;
  const code = typeof raw === "string" && CODE.test(raw) ? raw : undefined;
  const sentence = code ? CODE_SENTENCES[code] : undefined;
  const status = typeof cause.status === "number" ? cause.status : undefined;
  const message = `Verdict answered HTTP ${status ?? "error"}${code ? ` ${code}` : ""}${sentence ? `: ${sentence}` : ""}`;
  return { kind: "http", message, ...(status !== undefined ? { status } : {}), ...(code ? { code } : {}), ...(cause.error ? { error: cause.error } : {}) };
}

/**
 * A deny decided by the SDK itself because no decision could be obtained. It has the shape of
 * Verdict's `DecisionResponse` (so `result.decision === "allow"` is the only check a caller
 * needs) with `decisionId` and `policySetVersion` null, and the `cause`.
 */
export interface FailedDecision {
  decision: "deny";
  decisionId: null;
  policySetVersion: null;
  reasons: string[];
  errors: Array<{ policyId: string | null; message: string }>;
  obligations: unknown[];
  message: string;
  cause: FailureCause;
}

/** Builds the deny for a failure; `message` says no decision was made and why. */
export function failedDecision(cause: FailureCause): FailedDecision {
  return {
    decision: "deny",
    decisionId: null,
    policySetVersion: null,
    reasons: [],
    errors: [{ policyId: null, message: cause.message }],
    obligations: [],
    message: `Verdict could not decide (${cause.kind}): ${cause.message}; denied (fail closed)`,
    cause,
  };
}
