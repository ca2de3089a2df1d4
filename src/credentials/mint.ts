/**
 * Mints per-call credentials (their shape: `verifyCallCredential`, re-exported by
 * `../contract/credential.ts`): signed with Verdict's active ES256 key, so anyone holding
 * `/.well-known/jwks.json` can check them.
 */
import { randomUUID } from "node:crypto";
import type { CallCredential } from "../contract/decision.js";
import type { SigningKeys } from "../signing-keys/store.js";
import { MAX_CREDENTIAL_SECONDS, TXN_TOKEN_TYP, TXN_TOKEN_TYPE, type CallCredentialClaims } from "../contract/credential.js";

/** What a credential is minted for: an allowed decision. */
export interface CredentialSubject {
  issuer: string;
  decisionId: string;
  agent: string;
  /** The user the agent acts for; null: the credential's `sub` is the agent. */
  user: string | null;
  server: string;
  tool: string;
  argumentsSha256: string;
  task: { id: string; kind?: string } | null;
  /** The instant of the decision: the credential's `iat`. */
  now: Date;
  /** Lifetime in seconds, 1-60. */
  ttlSeconds: number;
}

/**
 * Signs a credential for one allowed call.
 * @throws RangeError when `ttlSeconds` is not 1-60; the signing key's errors
 */
export async function mintCallCredential(keys: SigningKeys, s: CredentialSubject): Promise<CallCredential> {
  if (!Number.isInteger(s.ttlSeconds) || s.ttlSeconds < 1 || s.ttlSeconds > MAX_CREDENTIAL_SECONDS) {
    throw new RangeError(`credential lifetime must be 1-${MAX_CREDENTIAL_SECONDS} s, not ${s.ttlSeconds}`);
  }
  const iat = Math.floor(s.now.getTime() / 1000);
  const claims: CallCredentialClaims = {
    iss: s.issuer,
    sub: s.user ?? s.agent,
    act: { sub: s.agent },
    aud: s.server,
    txn: s.decisionId,
    jti: randomUUID(),
    iat,
    exp: iat + s.ttlSeconds,
    tctx: { tool: s.tool, argumentsSha256: s.argumentsSha256, task: s.task },
  };
  const token = await keys.signJwt(claims, { typ: TXN_TOKEN_TYP });
  return { token, tokenType: TXN_TOKEN_TYPE, jti: claims.jti, expiresAt: new Date(claims.exp * 1000).toISOString() };
}
