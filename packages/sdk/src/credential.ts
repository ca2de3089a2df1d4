/**
 * `verifyCallCredential`: what an MCP server runs to refuse a tool call whose per-call credential
 * does not match it exactly. Depends on `jose` and the shared argument hash only; `@verdict/mcp`
 * re-exports it, and the server takes its constants from it (`src/contract/credential.ts`) to
 * mint what it checks.
 *
 * The credential is a JWT shaped after the OAuth Transaction Tokens draft
 * (draft-ietf-oauth-transaction-tokens §4): header `typ: txntoken+jwt`, `alg: ES256`; claims
 * `iss` (Verdict), `sub` (the user, or the agent when it acts for nobody), `act.sub` (the agent,
 * RFC 8693 §4.1), `aud` (the MCP server id), `txn` (the decision id), `jti`, `iat`, `exp`
 * (at most 60 s after `iat`), and `tctx` (the transaction context: `tool`, `argumentsSha256`, `task`).
 */
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { canonicalSha256 } from "./canonical.js";

/** JWT `typ` header of a Transaction Token. */
export const TXN_TOKEN_TYP = "txntoken+jwt";
/** OAuth token type URI of a Transaction Token. */
export const TXN_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:txn_token";
/** Longest lifetime Verdict gives a credential, in seconds. */
export const MAX_CREDENTIAL_SECONDS = 60;

/** The transaction context (`tctx`) that binds a credential to one call. */
export interface CallContext {
  tool: string;
  /** SHA-256 (hex) of the RFC 8785 canonical JSON of the call's arguments (the record's `argumentsSha256`). */
  argumentsSha256: string;
  task: { id: string; kind?: string } | null;
}

/** The claims of a per-call credential. */
export interface CallCredentialClaims extends JWTPayload {
  iss: string;
  sub: string;
  act: { sub: string };
  aud: string;
  /** The id of the decision that allowed the call. */
  txn: string;
  jti: string;
  iat: number;
  exp: number;
  tctx: CallContext;
}

/** The call an MCP server received, to check a credential against. */
export interface ExpectedCall {
  /** The MCP server's id in Verdict (its catalog file name): the credential's `aud`. */
  server: string;
  tool: string;
  arguments: unknown;
}

/** Where Verdict's keys come from, and who must have signed. */
export interface VerifyCallCredentialOptions {
  /** Verdict's issuer URL (`VERDICT_ISSUER`, by default the server's URL). */
  issuer: string;
  /** Verdict's JWK Set, when the caller holds it. */
  jwks?: JSONWebKeySet;
  /** Verdict's `/.well-known/jwks.json`; fetched, cached, refetched on an unknown `kid`. */
  jwksUrl?: string | URL;
  /** The instant to check `exp` against (default now). */
  currentDate?: Date;
  /** Clock skew tolerated, in seconds (default 5). */
  clockToleranceSeconds?: number;
}

/** Why a credential does not authorize a call. */
export type CallCredentialFailure =
  | "invalid"
  | "expired"
  | "wrong-issuer"
  | "wrong-server"
  | "wrong-tool"
  | "wrong-arguments"
  | "keys-unavailable";

/** The credential does not authorize the call; `failure` says why. */
export class CallCredentialError extends Error {
  constructor(
    readonly failure: CallCredentialFailure,
    message: string,
  ) {
    super(message);
    this.name = "CallCredentialError";
  }
}

const remoteSets = new Map<string, JWTVerifyGetKey>();

function keysOf(options: VerifyCallCredentialOptions): JWTVerifyGetKey {
  if (options.jwks) return createLocalJWKSet(options.jwks);
  if (!options.jwksUrl) throw new TypeError("verifyCallCredential: give jwks or jwksUrl");
  const url = String(options.jwksUrl);
  let set = remoteSets.get(url);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
    remoteSets.set(url, set);
  }
  return set;
}

/**
 * Checks that a per-call credential was signed by Verdict, is unexpired, and was issued for
 * exactly this call: this server (`aud`), this tool, these arguments (by canonical SHA-256).
 * Replay within the credential's lifetime is the server's to refuse, by remembering `jti`s
 * until their `exp`.
 * @returns the credential's claims (the user in `sub`, the agent in `act.sub`, the decision in `txn`)
 * @throws CallCredentialError naming the mismatch or the defect
 */
export async function verifyCallCredential(
  token: string,
  call: ExpectedCall,
  options: VerifyCallCredentialOptions,
): Promise<CallCredentialClaims> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keysOf(options), {
      algorithms: ["ES256"],
      typ: TXN_TOKEN_TYP,
      issuer: options.issuer,
      audience: call.server,
      requiredClaims: ["exp", "iat", "jti", "txn", "sub", "tctx"],
      maxTokenAge: MAX_CREDENTIAL_SECONDS,
      currentDate: options.currentDate,
      clockTolerance: options.clockToleranceSeconds ?? 5,
    }));
  } catch (e) {
    if (e instanceof errors.JWTExpired) throw new CallCredentialError("expired", "credential has expired");
    if (e instanceof errors.JWTClaimValidationFailed) {
      if (e.claim === "aud") throw new CallCredentialError("wrong-server", `credential was issued for server ${JSON.stringify(e.payload.aud)}, not ${JSON.stringify(call.server)}`);
      if (e.claim === "iss") throw new CallCredentialError("wrong-issuer", `credential was issued by ${JSON.stringify(e.payload.iss)}, not ${JSON.stringify(options.issuer)}`);
      if (e.claim === "iat") throw new CallCredentialError("expired", "credential is older than 60 s");
      throw new CallCredentialError("invalid", `credential claim ${e.claim}: ${e.reason}`);
    }
    if (e instanceof errors.JOSEError && !(e instanceof errors.JWKSTimeout)) {
      throw new CallCredentialError("invalid", `credential does not verify: ${e.message}`);
    }
    throw new CallCredentialError("keys-unavailable", `Verdict's keys cannot be obtained: ${(e as Error).message}`);
  }
  const tctx = payload.tctx as Partial<CallContext> | undefined;
  if (!tctx || typeof tctx !== "object") throw new CallCredentialError("invalid", "credential has no tctx");
  if (tctx.tool !== call.tool) throw new CallCredentialError("wrong-tool", `credential was issued for tool ${JSON.stringify(tctx.tool)}, not ${JSON.stringify(call.tool)}`);
  if (tctx.argumentsSha256 !== canonicalSha256(call.arguments)) {
    throw new CallCredentialError("wrong-arguments", "credential was issued for other arguments");
  }
  return payload as CallCredentialClaims;
}
