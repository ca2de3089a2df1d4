/**
 * `@verdict/sdk`, Verdict's thin SDK: a client of the decision API over `fetch`, typed from the
 * wire contract, failing closed, and `verifyCallCredential` for MCP servers that receive per-call
 * credentials. It depends on zod, jose and canonicalize only, and holds the one definition of the
 * decision surfaces' wire schemas (`wire.ts`), which Verdict's server re-exports.
 */
export {
  VerdictClient,
  type Decision,
  type DecisionList,
  type RequestOptions,
  type TaskEndResult,
  type ToolList,
  type VerdictClientOptions,
} from "./client.js";
export {
  CallCredentialError,
  verifyCallCredential,
  type CallCredentialClaims,
  type CallCredentialFailure,
  type ExpectedCall,
  type VerifyCallCredentialOptions,
} from "./credential.js";
export { failedDecision, publicCause, type FailedDecision, type FailureCause, type FailureKind } from "./errors.js";
export {
  DEFAULT_TIMEOUT_MS,
  HttpTransport,
  type HttpTransportOptions,
  type Transport,
  type TransportRequest,
  type TransportResult,
} from "./transport.js";
export { TASK_END_PROPAGATION_MS } from "./wire.js";
export type {
  AuthorizeBatchRequest,
  AuthorizeRequest,
  CallCredential,
  DecisionPage,
  DecisionQuery,
  DecisionRecord,
  DecisionResponse,
  McpTool,
  Task,
  TaskEndRequest,
  TaskEndResponse,
  ToolCallRequest,
  ToolListRequest,
  ToolListResponse,
} from "./wire.js";
