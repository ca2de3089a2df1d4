/**
 * Opens Verdict's database with one of two drivers over one drizzle schema: `pg` for a real
 * Postgres (`DATABASE_URL` set), or PGlite, an embedded Postgres in `VERDICT_DATA_DIR`, so that
 * `npm start` needs no set-up. Migrations from `migrations/` run on open.
 */
import { mkdirSync } from "node:fs";
import { sql } from "drizzle-orm";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import pg from "pg";
import type { Logger } from "pino";
import { MIGRATIONS_DIR } from "../paths.js";
import { lockDataDir } from "./lock.js";

export { DatabaseLockedError, DatabaseLockFileError } from "./lock.js";

/** The drizzle handle both drivers give. */
export type Db = PgDatabase<PgQueryResultHKT>;

/** An open database: the drizzle handle, which driver backs it, and its lifecycle. */
export interface Database {
  db: Db;
  kind: "postgres" | "pglite";
  /** The Postgres pool's counters (for `/metrics`); absent on PGlite, which has no pool. */
  pool?: { readonly totalCount: number; readonly idleCount: number; readonly waitingCount: number };
  /** Resolves when the database answers a trivial query; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const migrationsFolder = MIGRATIONS_DIR;
/** Arbitrary constant: serialises migrations of replicas that start together. */
const MIGRATION_LOCK = 727_001;
/** How long closing the Postgres pool waits for checked-out clients, in ms. */
const CLOSE_WAIT_MS = 5_000;

/**
 * Opens (and migrates) the database.
 * @param url a `postgres://` URL, or undefined for the embedded PGlite database
 * @param dataDir where PGlite keeps its files (created if missing); the process holds its lock
 *   (`<dataDir>/verdict.lock`, see `lock.ts`) until `close()` or exit
 * @throws DatabaseLockedError when another live process holds the embedded database's directory
 * @throws when the database cannot be reached or a migration fails
 */
export async function openDatabase(opts: { url?: string; dataDir: string; logger?: Logger }): Promise<Database> {
  if (opts.url) {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: 10,
      connectionTimeoutMillis: 2_000,
      idleTimeoutMillis: 10_000,
      query_timeout: 10_000,
    });
    // A server that goes away kills idle connections; pg reports it here, and the pool
    // replaces them on the next query. Without a listener the process would crash.
    pool.on("error", (err) => opts.logger?.warn({ err: err.message }, "postgres connection lost"));
    // pg-pool listens for errors only on idle clients: a checked-out client (a transaction) whose
    // connection dies emits 'error' with no listener, an uncaught exception that kills the
    // process and leaves the client checked out (pool.end() then never returns). Its queries
    // are rejected either way, which is how the caller learns of it.
    pool.on("connect", (client) => client.on("error", () => undefined));
    const db = drizzlePg(pool) as unknown as Db;
    // drizzle-orm 0.45's pool transaction sends BEGIN before its try/finally, so a connection
    // that dies between checkout and BEGIN (a Postgres outage) is never released, and
    // pool.end() then waits for it forever. Transactions run here instead: one checked-out
    // client, always released, and destroyed when the failure was not Postgres's own answer.
    const transaction: Db["transaction"] = async (run, config) => {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        return await (drizzlePg(client) as unknown as Db).transaction(run, config);
      } catch (e) {
        const cause = (e as { cause?: unknown }).cause ?? e; // drizzle wraps query errors
        if (!(e instanceof pg.DatabaseError) && !(cause instanceof pg.DatabaseError)) broken = e instanceof Error ? e : new Error(String(e));
        throw e;
      } finally {
        client.release(broken);
      }
    };
    Object.defineProperty(db, "transaction", { value: transaction });
    const client = await pool.connect();
    try {
      await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
      await migratePg(drizzlePg(client), { migrationsFolder });
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => undefined);
      client.release();
    }
    return {
      db,
      kind: "postgres",
      pool,
      ping: async () => {
        await pool.query("SELECT 1");
      },
      // pool.end() waits for every checked-out client; a leaked one (a driver bug like the one
      // above) must not hang shutdown, so after CLOSE_WAIT_MS the pool is left to process exit.
      close: async () => {
        let timer: NodeJS.Timeout | undefined;
        const gaveUp = new Promise<"gave up">((resolve) => (timer = setTimeout(() => resolve("gave up"), CLOSE_WAIT_MS)));
        const outcome = await Promise.race([pool.end().then(() => "closed" as const), gaveUp]);
        clearTimeout(timer);
        if (outcome === "gave up") opts.logger?.error({ checkedOut: pool.totalCount - pool.idleCount }, `database pool did not close within ${CLOSE_WAIT_MS} ms`);
      },
    };
  }
  // `memory://` keeps the embedded database in memory (tests); anything else is a directory.
  if (!opts.dataDir.startsWith("memory://")) mkdirSync(opts.dataDir, { recursive: true });
  // PGlite runs inside this process with no server to arbitrate: a second process on the same
  // directory would write into a database this one never sees, and lose it (issue 11, defect 7).
  const lock = opts.dataDir.startsWith("memory://") ? null : lockDataDir(opts.dataDir);
  // Loaded only here: importing PGlite costs about 43 MiB of resident memory, which a
  // deployment on Postgres should not carry.
  const [{ PGlite }, { pg_trgm }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("@electric-sql/pglite/contrib/pg_trgm"),
    import("drizzle-orm/pglite"),
    import("drizzle-orm/pglite/migrator"),
  ]);
  // pg_trgm backs the argument-content search index (migrations/0003_partitioning.sql).
  const client = new PGlite(opts.dataDir, { extensions: { pg_trgm } });
  const pgliteDb = drizzlePglite(client);
  // PGlite reports a directory it cannot open here, at its first query: the lock is given back.
  await migratePglite(pgliteDb, { migrationsFolder }).catch(async (e: unknown) => {
    await client.close().catch(() => undefined);
    lock?.release();
    throw e;
  });
  const db = pgliteDb as unknown as Db;
  return {
    db,
    kind: "pglite",
    ping: async () => {
      await db.execute(sql`SELECT 1`);
    },
    // The lock goes only once PGlite has flushed and closed its files.
    close: () => client.close().finally(() => lock?.release()),
  };
}
