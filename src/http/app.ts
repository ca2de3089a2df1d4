/**
 * `createApp(deps)` builds Verdict's HTTP API as a hono app. It does no I/O of its own: the
 * database, the decision log and the policy set come in as dependencies, so tests mount the app
 * in-process with `app.request()` and `src/index.ts` alone reads the environment and serves it.
 * What it is built over (`AppDeps`, `AppEnv`) is in `./deps.ts`, where the routes take it from.
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { apiKeyAuth } from "./key-auth.js";
import { apiKeyRoutes } from "../api-keys/routes.js";
import { authzenRoutes } from "../authzen/routes.js";
import { auditRoutes } from "../audit/routes.js";
import { decisionRoutes } from "../audit/decisions-routes.js";
import { healthRoutes } from "../health/routes.js";
import { signingKeyRoutes } from "../signing-keys/routes.js";
import { Metrics } from "../metrics/metrics.js";
import { metricsRoutes } from "../metrics/routes.js";
import { pdpRoutes } from "../pdp/routes.js";
import { uiRoutes } from "../ui/routes.js";
import { policySetRoutes } from "../policy-versions/routes.js";
import { PolicySetCache } from "../policy-versions/store.js";
import { ToolDriftRegistry } from "../catalog/drift.js";
import { TaskHistory } from "../pdp/history.js";
import { TaskEnds } from "../tasks/ends.js";
import { taskRoutes } from "../tasks/routes.js";
import { ApprovalStore } from "../approvals/store.js";
import { approvalRoutes } from "../approvals/routes.js";
import { toolDriftRoutes } from "../catalog/drift-routes.js";
import { accessLog } from "./access-log.js";
import { bodyLimit } from "./body-limit.js";
import type { AppDeps, AppEnv } from "./deps.js";
import { describeDbError } from "../db/errors.js";
import { openApiRoutes } from "./openapi.js";
import { VerdictError } from "./errors.js";
import { requestIdHeader } from "./request-id.js";
import { apiSecureHeaders } from "./secure-headers.js";

/** Largest request body accepted, in bytes (1 MiB); larger bodies get a 413. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

export function createApp(given: AppDeps): Hono<AppEnv> {
  const drift = given.drift ?? new ToolDriftRegistry(given.database.db);
  const history = given.history ?? new TaskHistory(given.database.db);
  const tasks = given.tasks ?? new TaskEnds(given.database.db, given.log);
  const approvals = given.approvals ?? new ApprovalStore(given.database.db, given.log, { ttlSeconds: given.approvalTtlSeconds, masking: given.masking });
  const metrics = given.metrics ?? new Metrics({ policies: given.policies, pool: given.database.pool, drift, history, tasks, approvals });
  const deps = { ...given, drift, metrics, history, tasks, approvals, policySetCache: given.policySetCache ?? new PolicySetCache() };
  deps.log.setObserver(metrics);
  const app = new Hono<AppEnv>();
  // Outermost, so that a line's duration and status cover everything below.
  app.use(accessLog(deps.logger, deps.accessLog ?? "info"));
  // First, so that every answer carries them, errors and 413s included.
  app.use(apiSecureHeaders());
  app.use(requestIdHeader());
  app.use(bodyLimit(BODY_LIMIT_BYTES));

  app.use(apiKeyAuth(deps.apiKeys));

  app.route("/", healthRoutes(deps));
  app.route("/", pdpRoutes(deps));
  app.route("/", decisionRoutes(deps));
  app.route("/", taskRoutes(deps, tasks));
  app.route("/", approvalRoutes(deps, approvals));
  app.route("/", policySetRoutes(deps));
  app.route("/", toolDriftRoutes(deps));
  app.route("/", apiKeyRoutes(deps));
  app.route("/", signingKeyRoutes(deps));
  app.route("/", authzenRoutes(deps));
  app.route("/", auditRoutes(deps));
  app.route("/", uiRoutes());
  app.route("/", openApiRoutes(deps));
  app.route("/", metricsRoutes(metrics));

  app.notFound((c) => c.json(new VerdictError("not_found", `no route for ${c.req.method} ${c.req.path}`).toBody(), 404));
  // The one place an error becomes a body: a stable code and a short message the caller may see.
  // What went wrong inside (a driver's message holds the SQL and the batch's records) goes to
  // the log, as the cause's SQLSTATE and driver message (docs/limits.md "Error bodies").
  app.onError((err, c) => {
    const requestId = c.get("requestId");
    if (err instanceof VerdictError) {
      const cause = err.cause === undefined ? {} : { cause: describeDbError(err.cause) };
      if (err.status >= 500) deps.logger.error({ code: err.code, err: err.message, ...cause, requestId }, err.code);
      else if (err.cause !== undefined) deps.logger.warn({ code: err.code, err: err.message, ...cause, requestId }, err.code);
      return c.json(err.toBody(), err.status);
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      if (status >= 500) {
        deps.logger.error({ err: err.stack ?? err.message, requestId }, "request failed");
        return c.json(new VerdictError("internal", "internal error; the request was not decided").toBody(), status);
      }
      const code = status === 413 ? "payload_too_large" : status === 404 ? "not_found" : "bad_request";
      return c.json({ error: { code, message: err.message || "request rejected" } }, status);
    }
    deps.logger.error({ err: err instanceof Error ? (err.stack ?? err.message) : String(err), requestId: c.get("requestId") }, "unhandled error");
    return c.json(new VerdictError("internal", "internal error; the request was not decided").toBody(), 500);
  });
  return app;
}
