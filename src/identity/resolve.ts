/**
 * Who the agent and the user of a decision request are, and how Verdict knows: proven by a token
 * (verified) or only asserted by the gateway. Refused tokens, an asserted id that contradicts a
 * token, a delegation that names another agent, and a missing proof that `VERDICT_REQUIRE_VERIFIED`
 * demands are each a `failure`: the request is denied before any policy runs, with a reason
 * naming the cause (`verdict:agent-token-expired`, `verdict:unverified-user`, ...), and recorded.
 */
import { IDENTITY_REASONS, REASONS, tokenRefusedReason } from "../contract/reasons.js";
import type { DelegationActor, RecordedIdentity, RecordedParty } from "../contract/decision-log.js";
import type { RequireVerified } from "../config.js";
import { TokenError, tokenSha256, type TokenKind, type TokenVerifier, type VerifiedToken } from "./token-verifier.js";

/** One party as resolved: its Cedar id, groups from its token, and the evidence. */
export interface Party extends RecordedParty {
  /** Group names the token grants (the entity's extra parents); empty when asserted. */
  groups: string[];
}

/** A reason to deny before any policy is evaluated. */
export interface IdentityFailure {
  /** One of `IDENTITY_REASONS` (`src/contract/reasons.ts`). */
  reason: string;
  message: string;
}

/**
 * Whether a recorded reason is an {@link IdentityFailure} of {@link IdentityResolver.resolve}
 * (`verdict:<kind>-token-<failure>`, `verdict:<kind>-mismatch`, `verdict:delegation-mismatch`,
 * `verdict:unverified-<kind>`): a fact of the request (its tokens, the settings then in force)
 * that no policy set changes, so replay keeps such a deny as it was.
 */
export function isIdentityFailureReason(reason: string): boolean {
  return IDENTITY_REASONS.has(reason);
}

/** The outcome of identifying a request's parties. */
export interface ResolvedIdentity {
  /** The agent; its `id` is "" when the request named none and its token was refused. */
  agent: Party;
  user: Party | null;
  /** The user token's `act` chain, outermost (current) actor first. */
  delegation: DelegationActor[];
  failure: IdentityFailure | null;
}

/** What a request says about its parties (ids asserted by the gateway and tokens). */
export interface IdentityClaims {
  agent?: string;
  user?: string;
  agentToken?: string;
  userToken?: string;
}

function verifiedParty(t: VerifiedToken): Party {
  return { id: t.id, verified: true, issuer: t.issuer, subject: t.subject, groups: t.groups, tokenSha256: t.tokenSha256 };
}

/** The record's view of an identity (`groups` only when a token gave some). */
export function toRecordedIdentity(r: ResolvedIdentity): RecordedIdentity {
  const strip = ({ groups, ...rest }: Party): RecordedParty => (groups.length ? { ...rest, groups } : rest);
  return { agent: strip(r.agent), user: r.user ? strip(r.user) : null };
}

/** Identifies requests with a token verifier and the `VERDICT_REQUIRE_VERIFIED` setting. */
export class IdentityResolver {
  constructor(
    private readonly verifier: TokenVerifier,
    readonly requireVerified: RequireVerified = "none",
  ) {}

  /** The failure `requireVerified` imposes on parties that are not verified, if any. */
  requirementFailure(agentVerified: boolean, userVerified: boolean): IdentityFailure | null {
    const need = this.requireVerified;
    if ((need === "agent" || need === "both") && !agentVerified) {
      return { reason: REASONS.unverifiedAgent, message: "the agent must be proven by a token (VERDICT_REQUIRE_VERIFIED)" };
    }
    if ((need === "user" || need === "both") && !userVerified) {
      return { reason: REASONS.unverifiedUser, message: "the user must be proven by a token (VERDICT_REQUIRE_VERIFIED)" };
    }
    return null;
  }

  /**
   * Verifies the request's tokens and reconciles them with the asserted ids. Never throws for a
   * bad token: that is a `failure`.
   */
  async resolve(q: IdentityClaims): Promise<ResolvedIdentity> {
    const out: ResolvedIdentity = {
      agent: { id: q.agent ?? "", verified: false, groups: [] },
      user: q.user === undefined ? null : { id: q.user, verified: false, groups: [] },
      delegation: [],
      failure: null,
    };
    const check = async (kind: TokenKind, token: string, asserted: string | undefined): Promise<VerifiedToken | IdentityFailure> => {
      let t: VerifiedToken;
      try {
        t = await this.verifier.verify(token, kind);
      } catch (e) {
        if (!(e instanceof TokenError)) throw e;
        return { reason: tokenRefusedReason(kind, e.failure), message: e.message };
      }
      if (asserted !== undefined && asserted !== t.id) {
        return { reason: kind === "agent" ? REASONS.agentMismatch : REASONS.userMismatch, message: `${kind} ${JSON.stringify(asserted)} was asserted but the ${kind} token proves ${JSON.stringify(t.id)}` };
      }
      return t;
    };

    let actors: DelegationActor[] = [];
    if (q.agentToken !== undefined) {
      const r = await check("agent", q.agentToken, q.agent);
      if ("reason" in r) return { ...out, agent: { ...out.agent, tokenSha256: tokenSha256(q.agentToken) }, failure: r };
      out.agent = verifiedParty(r);
    }
    if (q.userToken !== undefined) {
      const r = await check("user", q.userToken, q.user);
      const asserted = out.user ?? { id: "", verified: false, groups: [] };
      if ("reason" in r) return { ...out, user: { ...asserted, tokenSha256: tokenSha256(q.userToken) }, failure: r };
      out.user = verifiedParty(r);
      actors = r.actors;
    }
    out.delegation = actors;
    const current = actors[0];
    if (current && current.sub !== out.agent.id && current.sub !== out.agent.subject) {
      return {
        ...out,
        failure: {
          reason: REASONS.delegationMismatch,
          message: `the user token delegates to ${JSON.stringify(current.sub)}, not to agent ${JSON.stringify(out.agent.id)}`,
        },
      };
    }
    out.failure = this.requirementFailure(out.agent.verified, out.user?.verified ?? false);
    return out;
  }
}
