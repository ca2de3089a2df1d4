/**
 * The admin API for API keys: `POST /v1/keys` (create; the key is in the answer, once),
 * `GET /v1/keys` (list, never the keys), `DELETE /v1/keys/{id}` (revoke). Admin role only
 * (see `ROUTE_ROLES`).
 */
import { Hono } from "hono";
import { ApiKeyCreateRequest, type ApiKeyCreated } from "../contract/api-keys.js";
import type { AppDeps, AppEnv } from "../http/deps.js";
import { VerdictError } from "../http/errors.js";
import { readBody } from "../http/validate.js";

/** The `/v1/keys` routes, mounted by `createApp` (the middleware admits admins only). */
export function apiKeyRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post("/v1/keys", async (c) => {
    const body = await readBody(c, ApiKeyCreateRequest);
    const created = await deps.apiKeys.create(body);
    deps.logger.info({ keyId: created.info.id, name: created.info.name, role: created.info.role, by: c.get("apiKey")?.id }, "api key created");
    const answer: ApiKeyCreated = { ...created.info, key: created.key };
    return c.json(answer, 201);
  });

  app.get("/v1/keys", async (c) => c.json({ keys: await deps.apiKeys.list() }));

  app.delete("/v1/keys/:id", async (c) => {
    const id = c.req.param("id");
    const revoked = await deps.apiKeys.revoke(id);
    if (!revoked) throw new VerdictError("not_found", `no API key ${id}`);
    deps.logger.info({ keyId: id, by: c.get("apiKey")?.id }, "api key revoked");
    return c.json(revoked);
  });

  return app;
}
