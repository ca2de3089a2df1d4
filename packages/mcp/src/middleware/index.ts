/**
 * `@verdict/mcp`'s middleware: Verdict in front of an MCP server built with
 * `@modelcontextprotocol/sdk` (a peer dependency: only its types are used here), and the
 * credential verifier of `@verdict/sdk`, re-exported.
 */
export {
  bearerToken,
  DEFAULT_APPROVAL_POLL_MS,
  DENIED_CODE,
  INVALID_PARAMS_CODE,
  META_CREDENTIAL,
  META_TASK,
  META_USER,
  ToolGuard,
  type ApprovalWait,
  type ApprovalWaitEnd,
  type ApprovalWaitOptions,
  type CallHooks,
  type CheckResult,
  type DeniedErrorData,
  type GuardEvent,
  type GuardOptions,
  type RpcError,
  type TokenSource,
} from "./guard.js";
export {
  CallCredentialError,
  verifyCallCredential,
  type CallCredentialClaims,
  type CallCredentialFailure,
  type ExpectedCall,
  type VerifyCallCredentialOptions,
} from "@verdict/sdk";
export { ToolCallInterceptor, type ToClient, type ToServer } from "./interceptor.js";
export { connectWithVerdict, guardTransport, type Connectable } from "./transport.js";
