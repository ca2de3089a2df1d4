/**
 * A real Verdict server on a free port, over a database of the test file's own (a fresh
 * Postgres database when `DATABASE_URL` is set, else in-memory PGlite) or over a database the
 * test brings (`databaseUrl`: the outage test's private cluster), for tests that need real HTTP
 * (curl, the SDK, the MCP gateway, a database that goes away). Quiet logs; its admin key is
 * `TEST_ADMIN_KEY` (./app.ts).
 */
import pino, { type Logger } from "pino";
import { loadConfig, type IssuerConfig, type RequireVerified } from "../../src/config.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, TEST_ADMIN_KEY } from "./app.js";
import { createPostgresDatabase, usingPostgres } from "./db.js";
import { unwatchOrigin, watchOrigin } from "./error-bodies.js";

export interface TestVerdict {
  url: string;
  server: RunningServer;
  /** Stops the server (the database stays, for `dispose`). */
  stop(): Promise<void>;
  /** Stops the server if running and drops its database. */
  dispose(): Promise<void>;
}

/**
 * Starts Verdict with the example policy set (or the given directories), trusting `issuers`
 * (none by default).
 * @param opts.databaseUrl a Postgres database to use as it is (not created, not dropped)
 * @param opts.logger the server's logger (default: silent), for tests that read its lines
 * @param opts.metricsAddr `VERDICT_METRICS_ADDR`, e.g. `127.0.0.1:0`
 * @param opts.otlpTracesUrl the OTLP/HTTP traces URL (`Config.otlpTracesUrl`)
 */
export async function startTestVerdict(
  opts: {
    policyDir?: string;
    schemaDir?: string;
    issuers?: IssuerConfig[];
    requireVerified?: RequireVerified;
    databaseUrl?: string;
    logger?: Logger;
    metricsAddr?: string;
    /** Where to export traces (the parsed `OTEL_EXPORTER_OTLP_*` value); default: tracing off. */
    otlpTracesUrl?: string;
  } = {},
): Promise<TestVerdict> {
  const pgDb = !opts.databaseUrl && usingPostgres ? await createPostgresDatabase() : undefined;
  const server = await startServer(
    {
      ...loadConfig(opts.metricsAddr ? { VERDICT_METRICS_ADDR: opts.metricsAddr } : {}),
      port: 0,
      host: "127.0.0.1",
      databaseUrl: opts.databaseUrl ?? pgDb?.url,
      dataDir: "memory://",
      policyDir: opts.policyDir ?? EXAMPLE_POLICY_DIR,
      schemaDir: opts.schemaDir ?? EXAMPLE_SCHEMA_DIR,
      adminKey: TEST_ADMIN_KEY,
      issuers: opts.issuers ?? [],
      requireVerified: opts.requireVerified ?? "none",
      logLevel: "silent",
      otlpTracesUrl: opts.otlpTracesUrl,
    },
    opts.logger ?? pino({ level: "silent" }),
  );
  // every error body of this server that a test fetches is scanned (./error-bodies.ts)
  watchOrigin(server.url);
  return {
    url: server.url,
    server,
    stop: async () => {
      unwatchOrigin(server.url);
      await server.stop();
    },
    dispose: async () => {
      unwatchOrigin(server.url);
      await server.stop();
      await pgDb?.drop();
    },
  };
}
