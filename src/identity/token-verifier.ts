/**
 * Verifies the agent's and the user's tokens against the configured issuers, with `jose`:
 * signature (keys from the issuer's JWKS URL or file), `iss`, `aud`, `exp` (required) and `nbf`.
 * A token that fails is a {@link TokenError} naming the cause, which the decision endpoints turn
 * into a recorded deny. The token itself never leaves this module: callers get its claims and
 * its SHA-256.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from "jose";
import type { DelegationActor } from "../contract/decision-log.js";
import type { IssuerConfig } from "../config.js";
import type { TokenFailure } from "../contract/reasons.js";

/** Which party a token is meant to prove. */
export type TokenKind = "agent" | "user";

/** Why a token was refused (`TOKEN_FAILURES`); the decision's reason is `verdict:<kind>-token-<failure>`. */
export type { TokenFailure };

/** A token was refused; `failure` names the cause, the message says what exactly (never the token). */
export class TokenError extends Error {
  constructor(
    readonly kind: TokenKind,
    readonly failure: TokenFailure,
    message: string,
  ) {
    super(`${kind} token: ${message}`);
    this.name = "TokenError";
  }
}

/** What a verified token proves. */
export interface VerifiedToken {
  kind: TokenKind;
  issuer: string;
  /** The raw value of the issuer's id claim (e.g. `spiffe://acme.example/agent/incident-bot`). */
  subject: string;
  /** The Cedar entity id: `subject` without the issuer's `idPrefix`. */
  id: string;
  /** Group names from the issuer's `groupsClaim` (empty when none is configured). */
  groups: string[];
  /** The RFC 8693 `act` chain, outermost (current) actor first; empty without `act`. */
  actors: DelegationActor[];
  /** SHA-256 (hex) of the token text: what the record may keep instead of the token. */
  tokenSha256: string;
}

/** Largest depth of nested `act` claims accepted. */
const MAX_ACT_DEPTH = 10;

/** Asymmetric algorithms accepted when an issuer lists none (never `none`, never HMAC: Verdict holds no shared secrets). */
const DEFAULT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

interface Trusted {
  config: IssuerConfig;
  keys: JWTVerifyGetKey;
}

/** SHA-256 (hex) of a token's text. */
export function tokenSha256(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

function claimAt(payload: JWTPayload, path: string): unknown {
  let v: unknown = payload;
  for (const part of path.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function actorsOf(payload: JWTPayload, kind: TokenKind): DelegationActor[] {
  const out: DelegationActor[] = [];
  let act = payload.act as unknown;
  while (act !== undefined) {
    if (out.length >= MAX_ACT_DEPTH) throw new TokenError(kind, "invalid-claims", `act claim nests deeper than ${MAX_ACT_DEPTH}`);
    const a = act as { sub?: unknown; iss?: unknown; act?: unknown } | null;
    if (a === null || typeof a !== "object" || typeof a.sub !== "string" || !a.sub) {
      throw new TokenError(kind, "invalid-claims", "act claim has no sub (RFC 8693 §4.1)");
    }
    out.push(typeof a.iss === "string" ? { sub: a.sub, iss: a.iss } : { sub: a.sub });
    act = a.act;
  }
  return out;
}

function groupsOf(payload: JWTPayload, claim: string | undefined, kind: TokenKind): string[] {
  if (!claim) return [];
  const v = claimAt(payload, claim);
  if (v === undefined) return [];
  if (typeof v === "string") return v.split(/\s+/).filter(Boolean);
  if (Array.isArray(v) && v.every((g) => typeof g === "string")) return v as string[];
  throw new TokenError(kind, "invalid-claims", `groups claim ${claim} is neither a string nor an array of strings`);
}

/** Maps jose's errors to the cause a decision names. */
function failureOf(e: unknown, kind: TokenKind, issuer: string): TokenError {
  if (e instanceof TokenError) return e;
  if (e instanceof errors.JWTExpired) return new TokenError(kind, "expired", `expired (exp ${String(e.payload.exp)})`);
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === "nbf") return new TokenError(kind, "not-yet-valid", `not valid yet (nbf ${String(e.payload.nbf)})`);
    if (e.claim === "aud") return new TokenError(kind, "wrong-audience", `audience ${JSON.stringify(e.payload.aud)} is not one accepted for issuer ${issuer}`);
    return new TokenError(kind, "invalid-claims", `claim ${e.claim}: ${e.reason}`);
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) return new TokenError(kind, "bad-signature", "signature does not verify (the token was altered or signed by another key)");
  if (e instanceof errors.JWKSNoMatchingKey) return new TokenError(kind, "unknown-key", `no key of issuer ${issuer} matches the token's kid`);
  if (e instanceof errors.JOSEAlgNotAllowed) return new TokenError(kind, "algorithm-not-allowed", "signature algorithm is not accepted for this issuer");
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) return new TokenError(kind, "malformed", `not a valid JWT: ${e.message}`);
  return new TokenError(kind, "keys-unavailable", `keys of issuer ${issuer} cannot be obtained: ${(e as Error).message ?? String(e)}`);
}

/**
 * Verifies tokens against the trusted issuers. Build one per configuration; remote key sets are
 * fetched on first use, cached, and refetched when a token names an unknown `kid` (jose's
 * `createRemoteJWKSet`, at most every 30 s).
 */
export class TokenVerifier {
  private readonly trusted: Trusted[];

  /**
   * @param issuers the trusted issuers
   * @param now the clock used for `exp`/`nbf` (tests)
   * @throws Error when a JWKS file cannot be read or is not a JWK Set
   */
  constructor(
    issuers: IssuerConfig[],
    private readonly now: () => Date = () => new Date(),
  ) {
    this.trusted = issuers.map((config) => ({
      config,
      keys: config.jwksUrl
        ? createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: 5_000, cooldownDuration: 30_000 })
        : createLocalJWKSet(readJwksFile(config.jwksFile!)),
    }));
  }

  /**
   * Verifies a token meant to prove `kind`.
   * @throws TokenError naming why the token is refused
   */
  async verify(token: string, kind: TokenKind): Promise<VerifiedToken> {
    let alg: unknown;
    let iss: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
      iss = decodeJwt(token).iss;
    } catch (e) {
      throw new TokenError(kind, "malformed", `not a valid JWT: ${(e as Error).message}`);
    }
    if (typeof alg !== "string" || alg.toLowerCase() === "none") throw new TokenError(kind, "unsigned", 'token is unsigned (alg "none")');
    if (typeof iss !== "string") throw new TokenError(kind, "unknown-issuer", "token has no iss claim");
    const trusted = this.trusted.find((t) => t.config.issuer === iss && t.config.kind === kind);
    if (!trusted) throw new TokenError(kind, "unknown-issuer", `issuer ${JSON.stringify(iss)} is not trusted for ${kind} tokens`);
    const c = trusted.config;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, trusted.keys, {
        issuer: c.issuer,
        audience: c.audience,
        algorithms: c.algorithms ?? DEFAULT_ALGORITHMS,
        requiredClaims: ["exp"],
        clockTolerance: c.clockToleranceSeconds,
        currentDate: this.now(),
      }));
    } catch (e) {
      throw failureOf(e, kind, c.issuer);
    }
    const subject = claimAt(payload, c.idClaim);
    if (typeof subject !== "string" || !subject) throw new TokenError(kind, "invalid-claims", `id claim ${c.idClaim} is missing or not a string`);
    if (c.idPrefix && !subject.startsWith(c.idPrefix)) {
      throw new TokenError(kind, "invalid-claims", `id claim ${c.idClaim} does not start with ${c.idPrefix}`);
    }
    const id = c.idPrefix ? subject.slice(c.idPrefix.length) : subject;
    if (!id) throw new TokenError(kind, "invalid-claims", `id claim ${c.idClaim} is empty after ${c.idPrefix}`);
    return {
      kind,
      issuer: c.issuer,
      subject,
      id,
      groups: groupsOf(payload, c.groupsClaim, kind),
      actors: actorsOf(payload, kind),
      tokenSha256: tokenSha256(token),
    };
  }
}

function readJwksFile(path: string): Parameters<typeof createLocalJWKSet>[0] {
  const jwks = JSON.parse(readFileSync(path, "utf8")) as { keys?: unknown };
  if (!jwks || !Array.isArray(jwks.keys)) throw new Error(`JWKS file ${path} has no "keys" array`);
  return jwks as Parameters<typeof createLocalJWKSet>[0];
}
