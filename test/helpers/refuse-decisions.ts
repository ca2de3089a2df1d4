/**
 * Makes only the decision log's writes fail, on a test's own database (Postgres or PGlite), while
 * everything else (API keys, signing keys, policy sets) stays readable: a trigger that raises on
 * every INSERT into `decisions`. A test can then prove that an endpoint answers 503 and never a
 * decision when the decision cannot be recorded, on the record-before-answer path itself rather
 * than on an earlier read (such as the API-key lookup) that fails first when the whole database
 * is closed.
 */
import { sql } from "drizzle-orm";
import type { Db } from "../../src/db/client.js";

/**
 * Installs the trigger. SQLSTATE 53100 (`disk_full`) stands for a database that is up but cannot
 * take the rows: a fault of the database, not of any caller's data.
 * @returns a function that removes the trigger again (decisions are written again after it)
 */
export async function refuseDecisionInserts(db: Db): Promise<() => Promise<void>> {
  await db.execute(
    sql.raw(`CREATE OR REPLACE FUNCTION verdict_test_refuse_decisions() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'test: the decisions table takes no rows' USING ERRCODE = '53100'; END $$`),
  );
  await db.execute(sql.raw(`CREATE TRIGGER verdict_test_refuse_decisions BEFORE INSERT ON decisions FOR EACH ROW EXECUTE FUNCTION verdict_test_refuse_decisions()`));
  return async () => {
    await db.execute(sql.raw(`DROP TRIGGER verdict_test_refuse_decisions ON decisions`));
  };
}

/** The number of rows in `decisions`. */
export async function decisionRows(db: Db): Promise<number> {
  const result = (await db.execute(sql`SELECT count(*)::int AS n FROM decisions`)) as unknown as { rows: Array<{ n: number }> } | Array<{ n: number }>;
  const rows = Array.isArray(result) ? result : result.rows;
  return Number(rows[0]!.n);
}
