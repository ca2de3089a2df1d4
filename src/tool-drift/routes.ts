/**
 * `GET /v1/tools/drift`: tools whose definition, as gateways reported it, differs from the pinned
 * one. Open drift is listed until a version that re-pins the tool is in force;
 * `?all=true` also lists resolved drift.
 */
import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../http/app.js";
import { VerdictError } from "../http/errors.js";
import type { ToolDriftRegistry } from "./registry.js";

export function toolDriftRoutes(deps: AppDeps & { drift: ToolDriftRegistry }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/v1/tools/drift", async (c) => {
    const all = c.req.query("all");
    if (all !== undefined && all !== "true" && all !== "false") throw new VerdictError("bad_request", "all must be true or false");
    return c.json({ drift: await deps.drift.list(deps.policies.get(), all === "true"), policySetVersion: deps.policies.get().version });
  });
  return app;
}
