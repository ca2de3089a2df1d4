import type { PolicySet } from "./policy-set.js";
import { VerdictError } from "../http/errors.js";

/**
 * The policy set in force. Decisions read it once per request, so a switch to a new version
 * never mixes two versions in one answer.
 */
export class ActivePolicySet {
  private set: PolicySet | null;
  private readonly listeners: Array<(ps: PolicySet) => void> = [];

  constructor(initial: PolicySet | null = null) {
    this.set = initial;
  }

  /** The set in force, or null before one has loaded. */
  peek(): PolicySet | null {
    return this.set;
  }

  /**
   * The set in force.
   * @throws VerdictError `unavailable` (503) when none has loaded: Verdict cannot decide
   */
  get(): PolicySet {
    if (!this.set) throw new VerdictError("unavailable", "no policy set is loaded");
    return this.set;
  }

  /** Puts a (validated) set in force. */
  activate(ps: PolicySet): void {
    this.set = ps;
    for (const l of this.listeners) l(ps);
  }

  /** Calls `listener` on every activation. */
  onActivate(listener: (ps: PolicySet) => void): void {
    this.listeners.push(listener);
  }
}
