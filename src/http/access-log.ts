/**
 * The access log (docs/observability.md "Access log"): one structured pino line per request,
 * written when the answer is ready, with the method, the path (never the query string), the
 * status, the duration in ms, the request id, the caller's API key id and the ids of the
 * decisions the request made. Never a header, a body, an argument or a token: the line is built
 * from those fields alone, so nothing a caller sends beyond its path reaches it.
 */
import type { MiddlewareHandler } from "hono";
import type { Logger } from "pino";
import type { ApiKeyInfo } from "../contract/api-keys.js";

/** `VERDICT_ACCESS_LOG`: the pino level of access-log lines, or `off`. */
export type AccessLogLevel = "info" | "debug" | "off";

/** The hono variables the access log reads (set by other middleware and the decision routes). */
export type AccessLogVariables = {
  requestId?: string;
  apiKey?: ApiKeyInfo;
  /** Ids of the decisions this request made, in order (set once they are recorded). */
  decisionIds?: string[];
  /** `performance.now()` when the request arrived, in ms (set here, for every request). */
  startedAt?: number;
};

/** Longest path written, in characters: a path is the caller's text, so its length is bounded. */
const PATH_MAX = 512;

/**
 * The access-log middleware; mount it first, so that its duration covers every other middleware
 * and its status is the one sent (errors included: hono's `onError` has set it by then).
 * Always sets `startedAt` (decision latency is measured from it), even when the log is `off`.
 * @param logger the server's logger; lines go to it at `level` with the message `request`
 * @param level `info`, `debug` or `off` (no line)
 */
export function accessLog(logger: Logger, level: AccessLogLevel): MiddlewareHandler<{ Variables: AccessLogVariables }> {
  return async (c, next) => {
    const startedAt = performance.now();
    c.set("startedAt", startedAt);
    await next();
    if (level === "off") return;
    try {
      const decisionIds = c.get("decisionIds");
      logger[level](
        {
          method: c.req.method,
          path: c.req.path.length > PATH_MAX ? `${c.req.path.slice(0, PATH_MAX)}…` : c.req.path,
          status: c.res.status,
          durationMs: Math.round((performance.now() - startedAt) * 1000) / 1000,
          requestId: c.get("requestId"),
          keyId: c.get("apiKey")?.id,
          ...(decisionIds?.length === 1 ? { decisionId: decisionIds[0] } : decisionIds?.length ? { decisionIds } : {}),
        },
        "request",
      );
    } catch {
      // A log line is never worth an answer.
    }
  };
}
