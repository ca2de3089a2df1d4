/**
 * `GET /metrics`: Prometheus text exposition of the app's registry (`metrics.ts`). On the API it
 * needs a `metrics` (or `admin`) key (`ROUTE_ROLES`); {@link metricsListener} serves the same
 * text without a key on a separate address for scrapers (`VERDICT_METRICS_ADDR`).
 */
import { createServer, type Server } from "node:http";
import { Hono } from "hono";
import type { Logger } from "pino";
import type { AppEnv } from "../http/deps.js";
import type { Metrics } from "./metrics.js";

/** The route on the API. */
export function metricsRoutes(metrics: Metrics): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/metrics", async (c) => {
    const { body, contentType } = await metrics.render();
    return c.body(body, 200, { "content-type": contentType });
  });
  return app;
}

/**
 * A plain HTTP server that answers `GET /metrics` (and `HEAD`) and 404 to anything else, without
 * authentication: bind it to an address only scrapers reach. Resolves once it listens.
 * @param host the address to bind (`VERDICT_METRICS_ADDR`'s host)
 * @param port the port; 0 picks a free one (read it from `server.address()`)
 * @throws (as a rejection) when it cannot listen (address in use, not local)
 */
export async function metricsListener(metrics: Metrics, host: string, port: number, logger: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found: this listener serves GET /metrics only\n");
      return;
    }
    metrics.render().then(
      ({ body, contentType }) => res.writeHead(200, { "content-type": contentType }).end(req.method === "HEAD" ? undefined : body),
      (e: unknown) => {
        logger.error({ err: e instanceof Error ? e.message : String(e) }, "metrics not rendered");
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end("metrics unavailable\n");
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}
