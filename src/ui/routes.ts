/**
 * The decision explorer at `/ui`: static HTML, JS and CSS from `src/ui/static/`, plus uPlot
 * (the chart library) served from `node_modules`. No build step and no server of its own; the
 * page calls the same API as everyone else, with the key the auditor pastes in.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Hono } from "hono";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "../http/deps.js";
import { UI_CONTENT_SECURITY_POLICY } from "../http/secure-headers.js";

const require = createRequire(import.meta.url);
const staticDir = (name: string) => fileURLToPath(new URL(`./static/${name}`, import.meta.url));

/** URL path under `/ui/` → file and media type. */
const FILES: Record<string, { file: string; type: string }> = {
  "": { file: staticDir("index.html"), type: "text/html; charset=utf-8" },
  "app.js": { file: staticDir("app.js"), type: "text/javascript; charset=utf-8" },
  "style.css": { file: staticDir("style.css"), type: "text/css; charset=utf-8" },
  "vendor/uPlot.iife.min.js": { file: require.resolve("uplot/dist/uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
  "vendor/uPlot.min.css": { file: require.resolve("uplot/dist/uPlot.min.css"), type: "text/css; charset=utf-8" },
};

export function uiRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // Read once: a few hundred kilobytes that never change while the process runs.
  const bodies = new Map(Object.entries(FILES).map(([path, f]) => [path, { body: readFileSync(f.file), type: f.type }]));
  // The explorer's own CSP, never framed (clickjacking: the page holds an auditor's key).
  const headers = secureHeaders({ contentSecurityPolicy: UI_CONTENT_SECURITY_POLICY, xFrameOptions: "DENY", strictTransportSecurity: false });
  app.get("/ui", headers, (c) => c.redirect("/ui/"));
  app.get("/ui/*", headers, (c) => {
    const f = bodies.get(c.req.path.slice("/ui/".length));
    if (!f) return c.notFound();
    c.header("content-type", f.type);
    c.header("cache-control", "no-cache");
    return c.body(f.body);
  });
  return app;
}
