/**
 * A database of a test file's own. With `DATABASE_URL` set (CI, and `npm run test:pg`), a fresh
 * database is created on that Postgres server and dropped afterwards, so test files never see
 * each other's decisions; unset, an in-memory PGlite database.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type Database } from "../../src/db/client.js";

export interface TestDatabase {
  database: Database;
  /** The URL of the fresh Postgres database, or undefined for PGlite. */
  url?: string;
  /** Closes and drops the database. */
  dispose(): Promise<void>;
}

/** Whether tests run against a real Postgres (`DATABASE_URL` set). */
export const usingPostgres = Boolean(process.env.DATABASE_URL);

/** The shared Postgres of this machine and CI (never stopped by tests). */
export const LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432/test";

/**
 * Creates an empty Postgres database on the `DATABASE_URL` server and returns its URL.
 * @param base the server to create it on; tests that need Postgres whatever the driver under
 *   test (several processes sharing one database) pass {@link LOCAL_POSTGRES}
 */
export async function createPostgresDatabase(base: string = process.env.DATABASE_URL!): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `verdict_t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Opens a fresh, migrated database for one test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (!usingPostgres) {
    const database = await openDatabase({ dataDir: "memory://" });
    return { database, dispose: () => database.close() };
  }
  const pgDb = await createPostgresDatabase();
  const database = await openDatabase({ url: pgDb.url, dataDir: "unused" });
  return {
    database,
    url: pgDb.url,
    dispose: async () => {
      await database.close().catch(() => undefined);
      await pgDb.drop();
    },
  };
}
