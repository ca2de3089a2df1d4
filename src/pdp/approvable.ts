/**
 * Which denies a person may lift (DESIGN.md "Approvals bound to the exact call"): a deny is
 * *approvable* when every policy that determined it is an approvable forbid
 * (`@approval("<group>")`, `PolicySet.approvals`), nothing errored, and the set without its
 * approvable forbids (`PolicySet.lifted`) allows the call. Then removing exactly the determining
 * forbids would allow it too: a forbid that was not satisfied cannot change an answer, so the
 * lifted set answers as the set without the determining ones. Otherwise (a forbid that is not
 * approvable, an error, no permit) no approval can make the call allowed.
 */
import type { PinnedTool } from "../catalog/tool-schema.js";
import type { CedarRequest, EngineDecision } from "../cedar/types.js";
import type { PolicySet } from "../policy/policy-set.js";

/** What an approval of a denied call would lift, and what the call would then be allowed by. */
export interface Approvable {
  /** The `Mcp::Group` ids whose people may approve (of the determining forbids), sorted. */
  groups: string[];
  /** The approvable forbids that denied the call, sorted. */
  policies: string[];
  /** The lifted set's answer: `allow`, with the permits that allow it. */
  allowedBy: string[];
}

/**
 * Whether Cedar's deny of a checked tool call is approvable (see the module comment).
 * @param authorize evaluates the request against a prepared engine, as the deciding path does
 *   (`authorizeToolCall`), so the lifted answer is computed exactly like the first
 */
export function approvableDeny(
  ps: PolicySet,
  tool: PinnedTool,
  request: CedarRequest,
  answer: EngineDecision,
  authorize: (engine: NonNullable<PolicySet["lifted"]>, tool: PinnedTool, request: CedarRequest) => EngineDecision,
): Approvable | null {
  if (!ps.lifted || answer.decision !== "deny" || answer.errors.length || answer.reasons.length === 0) return null;
  if (!answer.reasons.every((id) => ps.approvals.has(id))) return null;
  const lifted = authorize(ps.lifted, tool, request);
  if (lifted.decision !== "allow" || lifted.errors.some((e) => e.policyId === null)) return null;
  return {
    groups: [...new Set(answer.reasons.map((id) => ps.approvals.get(id)!))].sort(),
    policies: [...answer.reasons].sort(),
    allowedBy: lifted.reasons,
  };
}
