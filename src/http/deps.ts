/**
 * What every route of Verdict's HTTP API is given: {@link AppDeps}, the parts `createApp`
 * (`./app.ts`) is built over, and {@link AppEnv}, the hono variables its middleware sets. Routes
 * import these from here, never from `./app.ts`, which imports the routes: so no route is on an
 * import circle through the app (`test/architecture.test.ts` holds it).
 */
import type { Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { ApiKeyStore } from "../api-keys/store.js";
import type { ToolDriftRegistry } from "../catalog/drift.js";
import type { Database } from "../db/client.js";
import type { Masking } from "../decision-log/masking.js";
import type { DecisionLog } from "../decision-log/writer.js";
import type { IdentityResolver } from "../identity/resolve.js";
import type { Metrics } from "../metrics/metrics.js";
import type { ActivePolicySet } from "../policy/active.js";
import type { TaskHistory } from "../pdp/history.js";
import type { TaskEnds } from "../tasks/ends.js";
import type { ApprovalStore } from "../approvals/store.js";
import type { PolicySetCache } from "../policy-versions/store.js";
import type { SigningKeys } from "../signing-keys/store.js";
import type { AccessLogLevel, AccessLogVariables } from "./access-log.js";
import type { AuthVariables } from "./key-auth.js";

/** Everything the API needs, created by the caller. */
export interface AppDeps {
  policies: ActivePolicySet;
  log: DecisionLog;
  database: Database;
  logger: Logger;
  /** The API keys every non-public request must present. */
  apiKeys: ApiKeyStore;
  /** Verdict's own keys: they sign per-call credentials and are published as the JWKS. */
  signingKeys: SigningKeys;
  /** Verifies agent and user tokens; absent: no issuer is trusted (every token is refused). */
  identity?: IdentityResolver;
  /** `iss` of minted credentials (a function: the server's URL is known only once it listens). */
  issuer: () => string;
  /**
   * The URL clients reach Verdict at, no trailing `/` (`VERDICT_PUBLIC_URL`, else the address it
   * listens on), for the metadata Verdict publishes; never derived from a request's `Host`.
   */
  publicUrl: () => string;
  /** Lifetime of a per-call credential in seconds (1-60, default 60). */
  credentialTtlSeconds?: number;
  /** Argument masking of recorded decisions; none when absent. */
  masking?: Masking;
  /**
   * Traces decisions (`verdict.decide` spans, src/tracing/tracing.ts); absent: tracing is off and
   * no span is built.
   */
  tracer?: Tracer;
  /** Clock, for tests; defaults to `new Date()`. */
  now?: () => Date;
  /**
   * Task memory (`context.session.history`, src/pdp/history.ts): read from the decision log in
   * `database`; created over it when not given.
   */
  history?: TaskHistory;
  /**
   * Ended tasks (`POST /v1/tasks/{taskId}/end`, src/tasks/ends.ts), looked up by every
   * `tools/call` that names a task; created over `database` and `log` when not given.
   */
  tasks?: TaskEnds;
  /**
   * Approvals of exact calls (src/approvals/store.ts): a call denied only by approvable forbids
   * uses one, or names its request; created over `database` and `log` when not given.
   */
  approvals?: ApprovalStore;
  /** Settings of approvals: `VERDICT_APPROVAL_TTL_SECONDS` (default 900). */
  approvalTtlSeconds?: number;
  /** Tool drift seen by gateways; created over `database` when not given. */
  drift?: ToolDriftRegistry;
  /** Built policy sets by version (publishing, activation, replay); created when not given. */
  policySetCache?: PolicySetCache;
  /** `/metrics` (docs/observability.md); created over this app's parts when not given. */
  metrics?: Metrics;
  /** Access-log level (`VERDICT_ACCESS_LOG`); default `info`. */
  accessLog?: AccessLogLevel;
}

/** Hono variables set by Verdict's middleware: the request id, and the API key of the caller. */
export type AppEnv = { Variables: { requestId: string } & AuthVariables & Omit<AccessLogVariables, "requestId" | "apiKey"> };
