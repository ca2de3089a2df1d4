/**
 * Reads the decision record: filtered, newest first, with cursor pagination keyed on
 * (time, id), which stays stable while new decisions arrive.
 */
import { eq, sql } from "drizzle-orm";
import type { DecisionRecord } from "../contract/decision-log.js";
import type { Db } from "../db/client.js";
import { decisions } from "../db/schema.js";
import { fromRow, type Row } from "./row.js";
import { filterConditions, whereAll, type SearchFilters } from "./search.js";
import { decodeCursor, encodeCursor } from "../db/cursor.js";

export { CursorError } from "../db/cursor.js";

/** The order of a page: newest first (the search) or oldest first (a task's records, `GET /v1/tasks/{id}`). */
export type PageOrder = "newest" | "oldest";

/**
 * The SQL of one page (`limit + 1` rows, to know whether another page follows); exported so the
 * benchmark can EXPLAIN exactly what the API runs.
 * @throws CursorError when `q.cursor` is malformed
 */
export function decisionPageQuery(db: Db, q: SearchFilters & { limit: number; cursor?: string }, order: PageOrder = "newest") {
  const where = filterConditions(q);
  if (q.cursor) {
    const [time, id] = decodeCursor(q.cursor);
    where.push(order === "newest" ? sql`(${decisions.time}, ${decisions.id}) < (${time}, ${id}::uuid)` : sql`(${decisions.time}, ${decisions.id}) > (${time}, ${id}::uuid)`);
  }
  return db
    .select()
    .from(decisions)
    .where(whereAll(where))
    // NULLS LAST as in the indexes (`time DESC NULLS LAST`): a plain DESC means NULLS FIRST,
    // which no index provides, and Postgres would sort the whole match instead. Oldest first is
    // the same index read backwards (ASC NULLS FIRST).
    .orderBy(
      ...(order === "newest"
        ? [sql`${decisions.time} DESC NULLS LAST`, sql`${decisions.id} DESC NULLS LAST`]
        : [sql`${decisions.time} ASC NULLS FIRST`, sql`${decisions.id} ASC NULLS FIRST`]),
    )
    .limit(q.limit + 1);
}

/**
 * Lists decisions matching every given filter, newest first (or oldest first).
 * @param q parsed filters, `limit` 1..1000 and an optional cursor from a previous page (of the same order)
 * @returns a page and the cursor of the next one (null on the last page)
 * @throws CursorError when `q.cursor` is malformed
 */
export async function listDecisions(
  db: Db,
  q: SearchFilters & { limit: number; cursor?: string },
  order: PageOrder = "newest",
): Promise<{ decisions: DecisionRecord[]; nextCursor: string | null }> {
  const rows = await decisionPageQuery(db, q, order);
  const page = rows.slice(0, q.limit);
  return {
    decisions: page.map(fromRow),
    nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!.time, page[page.length - 1]!.id) : null,
  };
}

/**
 * Every decision matching the filters, newest first, read in keyset pages of `pageSize` rows so
 * that no more than one page is in memory at a time (export of millions of rows).
 */
export async function* scanDecisions(db: Db, f: SearchFilters, pageSize = 1000): AsyncGenerator<DecisionRecord[]> {
  let cursor: string | undefined;
  do {
    const page = await listDecisions(db, { ...f, limit: pageSize, cursor });
    if (page.decisions.length) yield page.decisions;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}

/** One decision by id, or null. */
export async function getDecision(db: Db, id: string): Promise<DecisionRecord | null> {
  const rows = await db.select().from(decisions).where(eq(decisions.id, id)).limit(1);
  return rows[0] ? fromRow(rows[0]) : null;
}
