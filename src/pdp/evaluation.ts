import type { CedarRequest, DecisionError } from "../engine/cedar.js";

/**
 * The outcome of evaluating one question, before it is recorded. A value, never an exception:
 * every failure along the way is a deny that keeps its reason and errors.
 */
export interface Evaluation {
  kind: "tools/call" | "authorize";
  decision: "allow" | "deny";
  /** Determining policy ids, or `verdict:<check>` when one of Verdict's own checks decided. */
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
}

/** Cedar's textual form of an entity uid: `Type::"id"`. */
export function uidText(uid: { type: string; id: string }): string {
  return `${uid.type}::${JSON.stringify(uid.id)}`;
}

/** Microseconds elapsed since a `process.hrtime.bigint()` reading. */
export function microsSince(start: bigint): number {
  return Number((process.hrtime.bigint() - start) / 1000n);
}
