/**
 * The decision record (DESIGN.md "Decision record") and its hash chain. Each record carries the
 * hash of its predecessor in its writer's stream; the hash covers every other field, so a record
 * changed, removed or reordered after the fact breaks the chain (column by column coverage:
 * docs/tamper-evidence.md). The PDP builds a record from its evaluation (`toRecord` in
 * `src/pdp/decide.ts`); `./row.ts` maps it to its row.
 */
import { canonicalSha256 } from "../contract/canonical.js";
import type { DecisionRecord } from "../contract/decision-log.js";

export type { DecisionRecord };
export { canonicalSha256 };

/**
 * The kinds of record that are decisions (a question answered allow or deny); every other kind
 * (`task/end`) is an event of the chain that replay, the stats and task history leave out.
 */
export const DECISION_KINDS = ["tools/call", "authorize"] as const satisfies readonly DecisionRecord["kind"][];

/** A record before it joins a stream: everything but `stream`, `seq`, `prevHash` and `hash`. */
export type UnchainedRecord = Omit<DecisionRecord, "stream" | "seq" | "prevHash" | "hash">;

/**
 * A record of an event of the chain (a kind outside {@link DECISION_KINDS}: a task's end, an
 * approval's request or decision): no evaluation, so no errors, identity, credential, Cedar
 * request (`{}`), evaluation time (0) or trace of its own.
 */
export function eventRecord(
  fields: Omit<UnchainedRecord, "errors" | "identity" | "credentialJti" | "evaluationMicros" | "request" | "traceId">,
): UnchainedRecord {
  return { ...fields, errors: [], identity: null, credentialJti: null, evaluationMicros: 0, request: {}, traceId: null };
}

/**
 * The version of the record hash that Verdict writes (stored per row in `decisions.hash_version`):
 *
 * - 1 (rows written before migration 0006): SHA-256 (hex) over the RFC 8785 canonical JSON of
 *   every field of the record but `hash`;
 * - 2: the same over those fields plus `"hashVersion": 2`, so that a row's version is itself
 *   covered: a version-2 row relabelled as version 1 no longer matches its hash.
 *
 * Both cover `stream`, `seq` and `prevHash`. `traceId` (added by migration 0007) is hashed only when
 * set: a record without a trace hashes as it did before the field existed, so rows written
 * earlier keep verifying, and setting or clearing a row's trace id afterwards breaks its hash. The one stored column outside the record,
 * `task_id`, is a copy of `task.id` that the verifier compares with the hashed `task`.
 */
export const HASH_VERSION = 2;

/**
 * The stream format Verdict writes (`streams.chain_version`): 2 since migration 0006 (signed
 * retention, heads that name the previous head and the other streams); 1 before.
 */
export const CHAIN_VERSION = 2;

/** The hash versions the verifier knows. */
export type HashVersion = 1 | 2;

/**
 * The hash of a chained record (see {@link HASH_VERSION}).
 * @param version which hash (default: the one Verdict writes)
 * @throws Error for a version this code does not know
 */
export function recordHash(r: Omit<DecisionRecord, "hash">, version: number = HASH_VERSION): string {
  const { traceId, ...untraced } = r;
  const covered = traceId == null ? untraced : r;
  if (version === 2) return canonicalSha256({ ...covered, hashVersion: 2 });
  if (version === 1) return canonicalSha256(covered);
  throw new Error(`unknown record hash version ${version}`);
}
