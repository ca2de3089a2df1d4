/**
 * The decision search: the query-string filters shared by listing, export and stats, turned into
 * parameterized SQL conditions. Every value reaches Postgres as a bind parameter; argument paths
 * too (each segment is one parameter of an `ARRAY[...]` for `#>>`), so no filter can inject SQL.
 */
import { and, arrayContains, eq, gte, lt, sql, type SQL } from "drizzle-orm";
import type { z } from "zod";
import type { ArgumentFilter, DecisionFilters } from "../contract/decision-log.js";
import { decisions } from "../db/schema.js";

/** A query parameter is not a valid filter; the message says which and why. */
export class SearchError extends Error {}

/** Parsed filters: the fixed ones and the argument-content ones. */
export type SearchFilters = z.output<typeof DecisionFilters> & { args: ArgumentFilter[] };

/** At most this many `arg.` filters in one query, each path at most this deep. */
export const MAX_ARGUMENT_FILTERS = 8;
const MAX_PATH_DEPTH = 16;

/**
 * Reads the `arg.<path>=<substring>` parameters of a query string (every value of each).
 * @param queries all values of every parameter (hono's `c.req.queries()`)
 * @throws SearchError for an empty path segment, an empty substring, or too many filters
 */
export function argumentFilters(queries: Record<string, string[]>): ArgumentFilter[] {
  const out: ArgumentFilter[] = [];
  for (const [key, values] of Object.entries(queries)) {
    if (!key.startsWith("arg.")) continue;
    const path = key.slice(4).split(".");
    if (path.some((s) => s === "") || path.length > MAX_PATH_DEPTH) {
      throw new SearchError(`${key}: the path after "arg." must be 1 to ${MAX_PATH_DEPTH} non-empty keys separated by "."`);
    }
    for (const contains of values) {
      if (contains === "") throw new SearchError(`${key}: the substring to search for is empty`);
      out.push({ path, contains });
    }
  }
  if (out.length > MAX_ARGUMENT_FILTERS) throw new SearchError(`at most ${MAX_ARGUMENT_FILTERS} arg. filters per query`);
  return out;
}

/** `%`, `_` and `\` are LIKE's metacharacters; escaped, the pattern matches them literally. */
function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function argumentCondition(f: ArgumentFilter): SQL {
  const path = sql`ARRAY[${sql.join(
    f.path.map((p) => sql`${p}`),
    sql`, `,
  )}]::text[]`;
  const exact = sql`strpos(${decisions.arguments} #>> ${path}, ${f.contains}) > 0`;
  // When the substring reads the same inside a JSON string (no quote, backslash or control
  // character), it also occurs in `arguments::text`, which the trigram index can search.
  if (JSON.stringify(f.contains).slice(1, -1) !== f.contains) return exact;
  return sql`(${decisions.arguments}::text LIKE ${`%${escapeLike(f.contains)}%`} AND ${exact})`;
}

/** The SQL conditions (to be AND-ed) of a set of filters. */
export function filterConditions(f: SearchFilters): SQL[] {
  const where: SQL[] = [];
  if (f.agent) where.push(eq(decisions.agent, f.agent));
  if (f.user) where.push(eq(decisions.userId, f.user));
  if (f.server) where.push(eq(decisions.server, f.server));
  if (f.tool) where.push(eq(decisions.tool, f.tool));
  if (f.decision) where.push(eq(decisions.decision, f.decision));
  if (f.task) where.push(eq(decisions.taskId, f.task));
  if (f.policy) where.push(arrayContains(decisions.reasons, [f.policy]));
  if (f.caller) where.push(eq(decisions.caller, f.caller));
  if (f.requestId) where.push(eq(decisions.requestId, f.requestId));
  if (f.traceId) where.push(eq(decisions.traceId, f.traceId.toLowerCase()));
  if (f.kind) where.push(eq(decisions.kind, f.kind));
  if (f.policySetVersion) where.push(eq(decisions.policySetVersion, f.policySetVersion));
  if (f.since) where.push(gte(decisions.time, new Date(f.since)));
  if (f.until) where.push(lt(decisions.time, new Date(f.until)));
  for (const a of f.args) where.push(argumentCondition(a));
  return where;
}

/** `and(...)` of the conditions, or undefined when there are none. */
export function whereAll(conditions: SQL[]): SQL | undefined {
  return conditions.length ? and(...conditions) : undefined;
}
