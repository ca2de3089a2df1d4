/**
 * `GET /.well-known/jwks.json`: Verdict's public signing keys (RFC 7517 JWK Set), for MCP servers
 * to verify per-call credentials; public. `POST /v1/signing-keys/rotate`: start signing with a new
 * key (admin only); the old key stays published for the grace period.
 */
import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../http/deps.js";

/** The JWKS and rotation routes, mounted by `createApp`. */
export function signingKeyRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get("/.well-known/jwks.json", (c) => {
    c.header("Cache-Control", "public, max-age=60");
    return c.json(deps.signingKeys.jwks());
  });

  app.post("/v1/signing-keys/rotate", async (c) => {
    const kid = await deps.signingKeys.rotate();
    deps.logger.info({ kid, by: c.get("apiKey")?.id }, "signing key rotated");
    return c.json({ kid, jwks: deps.signingKeys.jwks() });
  });

  return app;
}
