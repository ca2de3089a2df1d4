/**
 * `createApp(deps)` builds Verdict's HTTP API as a hono app. It does no I/O of its own: the
 * database, the decision log and the policy set come in as dependencies, so tests mount the app
 * in-process with `app.request()` and `src/index.ts` alone reads the environment and serves it.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import type { Logger } from "pino";
import { v7 as uuidv7 } from "uuid";
import type { ApiKeyStore } from "../auth/api-keys.js";
import { apiKeyAuth, type AuthVariables } from "../auth/middleware.js";
import { apiKeyRoutes } from "../auth/routes.js";
import { authzenRoutes } from "../authzen/routes.js";
import type { Database } from "../db/client.js";
import { auditRoutes } from "../audit/routes.js";
import type { Masking } from "../decisions/masking.js";
import { decisionRoutes } from "../decisions/routes.js";
import type { DecisionLog } from "../decisions/log.js";
import { healthRoutes } from "../health/routes.js";
import type { IdentityResolver } from "../identity/resolve.js";
import { signingKeyRoutes } from "../keys/routes.js";
import type { SigningKeys } from "../keys/signing-keys.js";
import { pdpRoutes } from "../pdp/routes.js";
import { uiRoutes } from "../ui/routes.js";
import type { ActivePolicySet } from "../policy-set/active.js";
import { policySetRoutes } from "../policy-sets/routes.js";
import { PolicySetCache } from "../policy-sets/store.js";
import { ToolDriftRegistry } from "../tool-drift/registry.js";
import { toolDriftRoutes } from "../tool-drift/routes.js";
import { VerdictError } from "./errors.js";

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
  /** Lifetime of a per-call credential in seconds (1-60, default 60). */
  credentialTtlSeconds?: number;
  /** Argument masking of recorded decisions; none when absent. */
  masking?: Masking;
  /** Clock, for tests; defaults to `new Date()`. */
  now?: () => Date;
  /** Tool drift seen by gateways; created over `database` when not given. */
  drift?: ToolDriftRegistry;
  /** Built policy sets by version (publishing, activation, replay); created when not given. */
  policySetCache?: PolicySetCache;
}

/** Hono variables set by Verdict's middleware: the request id, and the API key of the caller. */
export type AppEnv = { Variables: { requestId: string } & AuthVariables };

/** Largest request body accepted, in bytes (1 MiB); larger bodies get a 413. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

export function createApp(given: AppDeps): Hono<AppEnv> {
  const deps = { ...given, drift: given.drift ?? new ToolDriftRegistry(given.database.db), policySetCache: given.policySetCache ?? new PolicySetCache() };
  const app = new Hono<AppEnv>();
  app.use(requestId({ generator: () => uuidv7() }));
  app.use(
    bodyLimit({
      maxSize: BODY_LIMIT_BYTES,
      onError: () => {
        throw new VerdictError("payload_too_large", `request body is larger than ${BODY_LIMIT_BYTES} bytes`);
      },
    }),
  );

  app.use(apiKeyAuth(deps.apiKeys));

  app.route("/", healthRoutes(deps));
  app.route("/", pdpRoutes(deps));
  app.route("/", decisionRoutes(deps));
  app.route("/", policySetRoutes(deps));
  app.route("/", toolDriftRoutes(deps));
  app.route("/", apiKeyRoutes(deps));
  app.route("/", signingKeyRoutes(deps));
  app.route("/", authzenRoutes(deps));
  app.route("/", auditRoutes(deps));
  app.route("/", uiRoutes());

  app.notFound((c) => c.json(new VerdictError("not_found", `no route for ${c.req.method} ${c.req.path}`).toBody(), 404));
  app.onError((err, c) => {
    if (err instanceof VerdictError) {
      if (err.status >= 500) deps.logger.error({ err: err.message, requestId: c.get("requestId") }, err.code);
      return c.json(err.toBody(), err.status);
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      const code = status === 413 ? "payload_too_large" : status === 404 ? "not_found" : status < 500 ? "bad_request" : "internal";
      return c.json({ error: { code, message: err.message || "request rejected" } }, status);
    }
    deps.logger.error({ err: err instanceof Error ? (err.stack ?? err.message) : String(err), requestId: c.get("requestId") }, "unhandled error");
    return c.json(new VerdictError("internal", "internal error; the request was not decided").toBody(), 500);
  });
  return app;
}
