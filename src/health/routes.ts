/**
 * `GET /healthz` (the process is up) and `GET /readyz` (it can decide and record: a policy set is
 * loaded and the database answers), for load balancers and orchestrators. Both are open without
 * a key (`PUBLIC_PATHS`), so without one `/readyz` says only its status: the policy-set version,
 * the database driver and its error, the decision-log stream id and its counters are for a caller
 * with a valid API key (any role).
 */
import { Hono, type Context } from "hono";
import type { AppDeps, AppEnv } from "../http/deps.js";

/**
 * Whether the request carries a valid API key (`Authorization: Bearer <key>`, unknown and revoked
 * keys are not). A key store that cannot be read counts as no key: the details stay hidden.
 */
async function hasValidKey(c: Context<AppEnv>, deps: AppDeps): Promise<boolean> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
  if (!match) return false;
  try {
    return (await deps.apiKeys.authenticate(match[1]!)) !== null;
  } catch {
    return false;
  }
}

/**
 * `GET /healthz` and `GET /readyz`; `/readyz` is 503 until a policy set is loaded and the database
 * answers. `/readyz` answers `{"status": "ready" | "not ready"}` without a valid key, and adds
 * `policySetVersion`, `policies`, `tools`, `database` and `decisionLog` with one.
 */
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
    const status = ready ? "ready" : "not ready";
    if (!(await hasValidKey(c, deps))) return c.json({ status }, ready ? 200 : 503);
    return c.json(
      {
        status,
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
