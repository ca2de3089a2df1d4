/**
 * `GET /v1/tools/drift`: tools whose definition, as gateways reported it, differs from the pinned
 * one. Open drift is listed until a version that re-pins the tool is in force;
 * `?all=true` also lists resolved drift.
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppDeps, AppEnv } from "../http/deps.js";
import { VerdictError } from "../http/errors.js";
import type { ToolDriftRegistry } from "./drift.js";

/** `GET /v1/tools/drift` query: `all=true` lists resolved drift too. */
export const DriftQuery = z.object({ all: z.enum(["true", "false"]).default("false") });

export function toolDriftRoutes(deps: AppDeps & { drift: ToolDriftRegistry }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/v1/tools/drift", async (c) => {
    const q = DriftQuery.safeParse(c.req.query());
    if (!q.success) throw new VerdictError("bad_request", "all must be true or false");
    return c.json({ drift: await deps.drift.list(deps.policies.get(), q.data.all === "true"), policySetVersion: deps.policies.get().version });
  });
  return app;
}
