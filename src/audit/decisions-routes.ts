/**
 * The auditor's read of the record: `GET /v1/decisions` (search), `/v1/decisions/export`
 * (streamed JSON Lines or CSV), `/v1/decisions/stats` (chart data) and `/v1/decisions/{id}`.
 * All share the filters of `search.ts`, including `arg.<path>=<substring>`.
 */
import { Hono, type Context } from "hono";
import { stream } from "hono/streaming";
import type { z } from "zod";
import { DecisionExportQuery, DecisionQuery, DecisionStatsQuery } from "../contract/decision-log.js";
import type { AppDeps, AppEnv } from "../http/deps.js";
import { fromZod, VerdictError } from "../http/errors.js";
import { EXPORT_CONTENT_TYPE, exportHeader, exportPage } from "../decision-log/export.js";
import { CursorError, getDecision, listDecisions, scanDecisions } from "../decision-log/query.js";
import { argumentFilters, SearchError, type SearchFilters } from "../decision-log/search.js";
import { decisionStats } from "../decision-log/stats.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function argumentFiltersOf(c: Context<AppEnv>): SearchFilters["args"] {
  try {
    return argumentFilters(c.req.queries());
  } catch (e) {
    return asBadRequest(e);
  }
}

/** Parses a search query string: the schema's parameters plus every `arg.` filter. */
function parseSearch<S extends z.ZodType>(c: Context<AppEnv>, schema: S): z.output<S> & Pick<SearchFilters, "args"> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) throw fromZod(parsed.error, "query");
  return { ...(parsed.data as z.output<S> & object), args: argumentFiltersOf(c) };
}

/** Rethrows the search's own errors (bad cursor, bad filter, bad window) as 400s. */
function asBadRequest(e: unknown): never {
  if (e instanceof CursorError || e instanceof SearchError) throw new VerdictError("bad_request", e.message);
  throw e;
}


/** The decision record's read API (DESIGN.md "Wire contract"), over `deps.database`. */
export function decisionRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const db = deps.database.db;

  app.get("/v1/decisions", async (c) => {
    const q = parseSearch(c, DecisionQuery);
    return c.json(await listDecisions(db, q).catch(asBadRequest));
  });

  app.get("/v1/decisions/export", (c) => {
    const q = parseSearch(c, DecisionExportQuery);
    c.header("content-type", EXPORT_CONTENT_TYPE[q.format]);
    c.header("content-disposition", `attachment; filename="decisions.${q.format}"`);
    return stream(
      c,
      async (out) => {
        let aborted = false;
        out.onAbort(() => {
          aborted = true;
        });
        const header = exportHeader(q.format);
        if (header) await out.write(header);
        for await (const page of scanDecisions(db, q)) {
          if (aborted) break;
          await out.write(exportPage(q.format, page));
        }
      },
      async (err, out) => {
        // Headers are gone by now: the client sees a truncated body. Say so in the log and
        // end the stream with an error line it cannot mistake for a record.
        deps.logger.error({ err: err.message, requestId: c.get("requestId") }, "export failed");
        await out.write("\n#error: export failed; the export is incomplete (see the server's log)\n");
      },
    );
  });

  app.get("/v1/decisions/stats", async (c) => {
    const q = parseSearch(c, DecisionStatsQuery);
    return c.json(await decisionStats(db, q, (deps.now ?? (() => new Date()))()).catch(asBadRequest));
  });

  app.get("/v1/decisions/:id", async (c) => {
    const id = c.req.param("id");
    if (!UUID.test(id)) throw new VerdictError("bad_request", `decision id ${JSON.stringify(id)} is not a UUID`);
    const record = await getDecision(db, id.toLowerCase());
    if (!record) throw new VerdictError("not_found", `no decision ${id}`);
    return c.json(record);
  });

  return app;
}
