/**
 * The decision surfaces of the wire contract: `POST /v1/mcp/tools/call`, `/v1/mcp/tools/list`,
 * `/v1/authorize` and `/v1/authorize/batch`, their answers, and the error body of every non-200.
 * Defined in `@verdict/sdk` (`packages/sdk/src/wire.ts`) and re-exported here for the server.
 * Only `src/contract/` imports from `packages/`, and only by these relative re-exports: the schemas
 * are defined once, in `@verdict/sdk`, which imports nothing from the server. (Relative, so that
 * tsx and the compiled `dist/` both resolve them without a build of the package.)
 */
export {
  AGENT_TOKEN_HEADER,
  AuthorizeBatchRequest,
  AuthorizeBatchResponse,
  AuthorizeRequest,
  CallCredential,
  CedarContext,
  DecisionError,
  DecisionResponse,
  Entity,
  EntityUid,
  ErrorBody,
  McpTool,
  Task,
  ToolCallRequest,
  ToolListRequest,
  ToolListResponse,
  USER_TOKEN_HEADER,
} from "../../packages/sdk/src/wire.js";
