/**
 * The HTTP ceiling: a bare hono endpoint on the same server adapter as Verdict, parsing the same
 * request bodies and answering a decision-shaped JSON, with no policy, no engine and no record.
 * Started by the benchmark with `PORT`; it prints `listening <port>` when ready.
 */
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const app = new Hono();
app.get("/healthz", (c) => c.json({ status: "ok" }));
app.post("/v1/mcp/tools/call", async (c) => {
  const body = (await c.req.json()) as { agent?: unknown; arguments?: unknown };
  const ok = typeof body.agent === "string" && typeof body.arguments === "object";
  return c.json({ decision: ok ? "allow" : "deny", reasons: [], errors: [], obligations: [] });
});
serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" }, (info) => console.log(`listening ${info.port}`));
