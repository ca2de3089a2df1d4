/**
 * Why the SDK could not get a decision from Verdict. The SDK never throws for these: it turns
 * each into a deny that carries its cause, so a careless caller cannot turn a failure into an allow.
 */
import type { ErrorBody } from "../contract/wire.js";

/**
 * The kind of failure:
 * - `timeout`: no answer within the client's timeout;
 * - `network`: the request could not be sent or the connection failed;
 * - `http`: Verdict answered with a status other than 200 (`status`, and `error` when the body
 *   was Verdict's error shape);
 * - `invalid-response`: a 200 whose body is not JSON or does not match the wire contract.
 */
export type FailureKind = "timeout" | "network" | "http" | "invalid-response";

/** The cause of a deny that Verdict did not make itself (Verdict unreachable, slow, or broken). */
export interface FailureCause {
  kind: FailureKind;
  /** A sentence saying what went wrong, for logs and for the agent. */
  message: string;
  /** The HTTP status, for `http`. */
  status?: number;
  /** Verdict's error body (`{code, message, details?}`), for `http` when it sent one. */
  error?: ErrorBody["error"];
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
