/**
 * A real Verdict server for tests that need real HTTP (curl, fetch, a database that goes away):
 * `startServer` on a free port with the example policy set, quiet logs and the test admin key.
 */
import pino from "pino";
import { loadConfig } from "../../src/config.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR } from "./app.js";

/** The admin key every test that talks to Verdict over HTTP sends as `Authorization: Bearer`. */
export const TEST_ADMIN_KEY = "test-admin-key-0123456789";

/**
 * Starts Verdict on 127.0.0.1 and a free port.
 * @param databaseUrl a Postgres URL; undefined for an in-memory PGlite database
 */
export function startTestServer(databaseUrl?: string): Promise<RunningServer> {
  const config = loadConfig({
    PORT: "0",
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { VERDICT_DATA_DIR: "memory://" }),
    VERDICT_POLICY_DIR: EXAMPLE_POLICY_DIR,
    VERDICT_SCHEMA_DIR: EXAMPLE_SCHEMA_DIR,
    VERDICT_ADMIN_KEY: TEST_ADMIN_KEY,
    VERDICT_LOG_LEVEL: "silent",
  });
  return startServer(config, pino({ level: "silent" }));
}
