/**
 * The `verdict:*` reason codes: the entries Verdict itself puts in a decision's `reasons` (the
 * wire field of every answer, beside the ids of determining Cedar policies). A deny always has
 * a reason; when Verdict decided it (a check before Cedar, or the fail-closed rule over Cedar's
 * answer), `reasons[0]` is one of these codes. Each code is a fact clients and dashboards may
 * match on: the codes are part of the wire contract and are never renamed.
 *
 * Produced by: the prepared engine (`src/cedar/engine.ts`), the checks before Cedar
 * (`src/pdp/checks.ts`), identity resolution (`src/identity/resolve.ts`), the AuthZEN mapping
 * (`src/authzen/mapping.ts`) and replay (`src/policy-versions/replay.ts`). docs/fail-closed.md
 * explains the engine's codes.
 */

/** Every `verdict:*` reason code whose text is fixed (token refusals: see {@link tokenRefusedReason}). */
export const REASONS = {
  // The engine: Verdict's rule over Cedar's answer.
  /** A forbid errored, so the request is denied (fail closed); the errored forbids' ids follow, sorted. Engine. */
  forbidErrored: "verdict:forbid-errored",
  /** No permit was satisfied and no policy determined the deny (Cedar's default deny). Engine. */
  noPermit: "verdict:no-permit",
  /** Cedar could not evaluate the request at all (invalid request, context or entities); its messages are the errors. Engine. */
  evaluationFailed: "verdict:evaluation-failed",

  // Checks before Cedar on a policy set.
  /** The agent is not an `Mcp::Agent` of the policy set's store and no token proved it. Checks. */
  unknownAgent: "verdict:unknown-agent",
  /** The user is not an `Mcp::User` of the policy set's store and no token proved it. Checks. */
  unknownUser: "verdict:unknown-user",
  /** A principal of a type other than `Mcp::Agent` and `Mcp::User` that the store does not hold. Checks. */
  unknownPrincipal: "verdict:unknown-principal",
  /** The server has no pinned tool catalog in the policy set. Checks. */
  unknownServer: "verdict:unknown-server",
  /** The tool is not in the server's pinned catalog. Checks. */
  unknownTool: "verdict:unknown-tool",
  /** A gateway reported a definition of the tool other than the pinned one, and it is not re-pinned yet. Checks. */
  toolDrift: "verdict:tool-drift",
  /** The arguments do not fit the tool's pinned inputSchema (or its Cedar input type). Checks. */
  argumentsInvalid: "verdict:arguments-invalid",

  /**
   * A policy that can apply reads `context.session.history` (task memory), and the path that
   * decided has none to give (AuthZEN's MCP binding, a caller of `evaluateToolCall` that passed
   * none): denied rather than decided on a history Verdict did not read. Checks.
   */
  historyUnavailable: "verdict:history-unavailable",
  /**
   * The call names a task that has ended (`POST /v1/tasks/{taskId}/end`): nothing more is done on
   * it ("revoke when the task completes"). Checked before everything else. Checks.
   */
  taskEnded: "verdict:task-ended",

  // Approvals (DESIGN.md "Approvals bound to the exact call"): reasons of approval records.
  /** An `approval/approve` record: a person of the group approved the exact call. Approvals. */
  approvalApproved: "verdict:approval-approved",
  /** An `approval/deny` record: a person of the group refused the exact call. Approvals. */
  approvalDenied: "verdict:approval-denied",

  // Identity: facts of the request's tokens and the settings in force (token refusals: tokenRefusedReason).
  /** The agent token proves another agent than the one asserted. Identity. */
  agentMismatch: "verdict:agent-mismatch",
  /** The user token proves another user than the one asserted. Identity. */
  userMismatch: "verdict:user-mismatch",
  /** The user token's `act` claim (OAuth token exchange, RFC 8693) delegates to another agent. Identity. */
  delegationMismatch: "verdict:delegation-mismatch",
  /** `VERDICT_REQUIRE_VERIFIED` asks for an agent token and none proved the agent. Identity. */
  unverifiedAgent: "verdict:unverified-agent",
  /** `VERDICT_REQUIRE_VERIFIED` asks for a user token and none proved the user. Identity. */
  unverifiedUser: "verdict:unverified-user",

  // AuthZEN's Cedar mapping.
  /** An AuthZEN subject or resource type that names no single entity type of the schema. AuthZEN mapping. */
  unknownType: "verdict:unknown-type",
  /** No action of the schema by the AuthZEN action's name applies to the subject and resource types. AuthZEN mapping. */
  unknownAction: "verdict:unknown-action",

  // Replay.
  /**
   * A recorded `/v1/authorize` request supplies an entity that the policy set replayed against
   * manages (or makes one of its own a member of one); that request would now be refused. Replay.
   */
  entityConflict: "verdict:entity-conflict",
} as const;

/** The codes the engine itself gives (as opposed to Verdict's checks before Cedar). */
export const ENGINE_REASONS: ReadonlySet<string> = new Set([REASONS.forbidErrored, REASONS.noPermit, REASONS.evaluationFailed]);

/** Why a token was refused (the `<failure>` of `verdict:<kind>-token-<failure>`). */
export const TOKEN_FAILURES = [
  "malformed",
  "unsigned",
  "algorithm-not-allowed",
  "unknown-issuer",
  "unknown-key",
  "bad-signature",
  "expired",
  "not-yet-valid",
  "wrong-audience",
  "invalid-claims",
  "keys-unavailable",
] as const;

/** One of {@link TOKEN_FAILURES}. */
export type TokenFailure = (typeof TOKEN_FAILURES)[number];

/**
 * The reason of a refused token, `verdict:<kind>-token-<failure>` (`verdict:agent-token-expired`,
 * `verdict:user-token-bad-signature`, ...). Identity.
 */
export function tokenRefusedReason(kind: "agent" | "user", failure: TokenFailure): `verdict:${"agent" | "user"}-token-${TokenFailure}` {
  return `verdict:${kind}-token-${failure}`;
}

/**
 * The codes of identity failures: refused tokens, mismatches and missing proofs. Each is a fact
 * of the request (its tokens, the settings then in force) that no policy set changes.
 */
export const IDENTITY_REASONS: ReadonlySet<string> = new Set([
  ...TOKEN_FAILURES.flatMap((f) => [tokenRefusedReason("agent", f), tokenRefusedReason("user", f)]),
  REASONS.agentMismatch,
  REASONS.userMismatch,
  REASONS.delegationMismatch,
  REASONS.unverifiedAgent,
  REASONS.unverifiedUser,
]);
