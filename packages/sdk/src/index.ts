/**
 * Verdict's thin SDK (`verdict/sdk`): a client of the decision API over `fetch`, typed from the
 * wire contract, failing closed, and `verifyCallCredential` for MCP servers that receive per-call
 * credentials. It imports nothing from Verdict's server side.
 */
export { VerdictClient, type Decision, type DecisionList, type RequestOptions, type ToolList, type VerdictClientOptions } from "./client.js";
export {
  CallCredentialError,
  verifyCallCredential,
  type CallCredentialClaims,
  type CallCredentialFailure,
  type ExpectedCall,
  type VerifyCallCredentialOptions,
} from "../../../src/credentials/verify.js";
export { failedDecision, type FailedDecision, type FailureCause, type FailureKind } from "./errors.js";
export {
  DEFAULT_TIMEOUT_MS,
  HttpTransport,
  type HttpTransportOptions,
  type Transport,
  type TransportRequest,
  type TransportResult,
} from "./transport.js";
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
  ToolCallRequest,
  ToolListRequest,
  ToolListResponse,
} from "../../../src/contract/wire.js";
