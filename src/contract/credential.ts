/**
 * The per-call credential's format and its verifier (`verifyCallCredential`), defined in
 * `@verdict/sdk` (`packages/sdk/src/credential.ts`) so that an MCP server checks exactly what
 * the server mints (`src/credentials/mint.ts` takes its constants and claims type from here).
 * Only `src/contract/` imports from `packages/`, and only by these relative re-exports: the schemas
 * are defined once, in `@verdict/sdk`, which imports nothing from the server. (Relative, so that
 * tsx and the compiled `dist/` both resolve them without a build of the package.)
 */
export {
  CallCredentialError,
  MAX_CREDENTIAL_SECONDS,
  TXN_TOKEN_TYP,
  TXN_TOKEN_TYPE,
  verifyCallCredential,
  type CallContext,
  type CallCredentialClaims,
  type CallCredentialFailure,
  type ExpectedCall,
  type VerifyCallCredentialOptions,
} from "../../packages/sdk/src/credential.js";
