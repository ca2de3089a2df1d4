import type { CedarRequest, DecisionError } from "../cedar/types.js";
import { REASONS } from "../contract/reasons.js";
import type { Approvable } from "./approvable.js";

/**
 * The outcome of evaluating one question, before it is recorded. A value, never an exception:
 * every failure along the way is a deny that keeps its reason and errors.
 */
export interface Evaluation {
  kind: "tools/call" | "authorize";
  decision: "allow" | "deny";
  /**
   * Determining policy ids, or `verdict:<check>` when one of Verdict's own checks decided, or one
   * of the engine's codes followed by policy ids (`verdict:forbid-errored`, `verdict:no-permit`,
   * `verdict:evaluation-failed`; see `src/contract/reasons.ts`). Never empty for a deny.
   */
  reasons: string[];
  errors: DecisionError[];
  obligations: unknown[];
  message: string;
  policySetVersion: string;
  agent: string;
  user: string | null;
  server: string;
  tool: string;
  /** The Cedar action uid as text, e.g. `Mcp::Action::"filesystem/read_file"`. */
  action: string;
  arguments: unknown;
  task: { id: string; kind?: string } | null;
  /** The full Cedar request with its entity slice, for replay. */
  request: CedarRequest;
  evaluationMicros: number;
  /**
   * A `tools/call` denied only by approvable forbids that the set without them would allow
   * (`./approvable.ts`): what an approval would lift. Absent otherwise.
   */
  approvable?: Approvable;
  /** With `approvable`: the pinned tool definition's hash, part of an approval's binding. */
  definitionHash?: string;
}

/** Cedar's textual form of an entity uid: `Type::"id"`. */
export function uidText(uid: { type: string; id: string }): string {
  return `${uid.type}::${JSON.stringify(uid.id)}`;
}

/** Microseconds elapsed since a `process.hrtime.bigint()` reading. */
export function microsSince(start: bigint): number {
  return Number((process.hrtime.bigint() - start) / 1000n);
}

/**
 * A one-line explanation of an engine answer: `allowed by <ids>`, `denied by <ids>`, or, for the
 * engine's reason codes, `denied: forbid <ids> errored, ...` (`verdict:forbid-errored`, with
 * each error), `denied: no policy permits this call` (`verdict:no-permit`, naming errored
 * permits when there are any) and `denied: evaluation failed: ...` (`verdict:evaluation-failed`).
 */
export function explain(answer: { decision: "allow" | "deny"; reasons: string[]; errors: { policyId?: string | null; message: string }[] }): string {
  if (answer.decision === "allow") return `allowed by ${answer.reasons.join(", ")}`;
  const [code, ...ids] = answer.reasons;
  const policyErrors = answer.errors.map((e) => (e.policyId ? `${e.policyId}: ${e.message}` : e.message)).join("; ");
  if (code === REASONS.forbidErrored) return `denied: forbid ${ids.join(", ")} errored, and a forbid that errors denies (fail closed): ${policyErrors}`;
  if (code === REASONS.noPermit) return answer.errors.length ? `denied: no policy permits this call (errored, so not counted: ${policyErrors})` : "denied: no policy permits this call";
  if (code === REASONS.evaluationFailed || code === undefined) return `denied: evaluation failed: ${answer.errors.map((e) => e.message).join("; ")}`;
  return `denied by ${answer.reasons.join(", ")}`;
}
