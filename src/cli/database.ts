/**
 * How CLI commands that read or write the database directly (`verdict keys`, `verdict audit
 * verify`) open it: with the server's own environment (`DATABASE_URL`, else the embedded
 * database in `VERDICT_DATA_DIR`). The embedded database admits one process at a time (see
 * `src/db/lock.ts`): when a server holds it, the command is refused with what to do instead,
 * and has written nothing.
 */
import { loadConfig } from "../config.js";
import { DatabaseLockedError, DatabaseLockFileError, openDatabase, type Database } from "../db/client.js";
import { CliError } from "./output.js";

/**
 * Runs `fn` with the database, closed afterwards.
 * @param instead how to run the command through the server's API, for the refusal's message
 *   (e.g. `--url/VERDICT_URL and an admin key`)
 * @throws CliError (exit 1) when another process holds the embedded database; nothing was written
 */
export async function withDatabase<T>(instead: string, fn: (database: Database) => Promise<T>): Promise<T> {
  const config = loadConfig();
  let database: Database;
  try {
    database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  } catch (e) {
    if (e instanceof DatabaseLockedError) {
      const h = e.holder;
      throw new CliError(
        `a Verdict process (pid ${h.pid}: ${h.command}, since ${h.startedAt}) holds the embedded database in ${e.dataDir}; ` +
          `run this command against it with ${instead}, or stop it first`,
      );
    }
    if (e instanceof DatabaseLockFileError) throw new CliError(e.message);
    throw e;
  }
  try {
    return await fn(database);
  } finally {
    await database.close();
  }
}
