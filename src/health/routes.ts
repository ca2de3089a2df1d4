/**
 * `GET /healthz` (the process is up) and `GET /readyz` (it can decide and record: a policy set is
 * loaded and the database answers), for load balancers and orchestrators.
 */
import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../http/app.js";

/** `GET /healthz` and `GET /readyz`; `/readyz` is 503 until a policy set is loaded and the database answers. */
export function healthRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const ps = deps.policies.peek();
    let database: string = "ok";
    try {
      await deps.database.ping();
    } catch (e) {
      database = `unreachable: ${(e as Error).message}`;
    }
    const ready = ps !== null && database === "ok";
    return c.json(
      {
        status: ready ? "ready" : "not ready",
        policySetVersion: ps?.version ?? null,
        policies: ps?.policies.size ?? 0,
        tools: ps?.tools.size ?? 0,
        database: { driver: deps.database.kind, status: database },
        decisionLog: { stream: deps.log.streamId, ...deps.log.stats },
      },
      ready ? 200 : 503,
    );
  });
  return app;
}
