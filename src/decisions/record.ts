/**
 * The decision record (DESIGN.md "Decision record") and its hash chain. Each record carries the
 * hash of its predecessor in its writer's stream; the hash covers every other field, so a record
 * changed, removed or reordered after the fact breaks the chain.
 */
import { canonicalSha256 } from "../contract/canonical.js";
import type { DelegationActor, DecisionRecord, RecordedIdentity } from "../contract/wire.js";
import type { Evaluation } from "../pdp/evaluation.js";

export type { DecisionRecord };
export { canonicalSha256 };

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
}

/** A record before it joins a stream: everything but `stream`, `seq`, `prevHash` and `hash`. */
export type UnchainedRecord = Omit<DecisionRecord, "stream" | "seq" | "prevHash" | "hash">;

/** Builds the record of an evaluation (arguments hashed canonically before any masking). */
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
  };
}

/**
 * The hash of a chained record: SHA-256 over the canonical JSON of every field but `hash`
 * (so `stream`, `seq` and `prevHash` are covered too).
 */
export function recordHash(r: Omit<DecisionRecord, "hash">): string {
  return canonicalSha256(r);
}
