/**
 * What a database error says, for the decision log and the server's log, read the same way
 * under both drivers (`pg` and PGlite both raise errors carrying Postgres's SQLSTATE in `code`;
 * drizzle wraps them in an error whose message is the whole query and its parameters).
 */

/**
 * SQLSTATE classes that blame a statement's data rather than the database (PostgreSQL
 * "Appendix A. PostgreSQL Error Codes"): 22 data exception (a NUL in `jsonb`, a malformed value),
 * 23 integrity constraint violation, 54 program limit exceeded (an index row too large for a
 * btree). Every other class (08 connection, 53 insufficient resources, 57 operator intervention,
 * 40 rollback, 42 a schema mismatch, XX internal) and an error without a SQLSTATE (a socket
 * error) is a fault of the database or the link to it.
 */
const DATA_CLASSES: ReadonlySet<string> = new Set(["22", "23", "54"]);

/** The SQLSTATE of an error or of one of its causes, or undefined when none carries one. */
export function sqlState(e: unknown): string | undefined {
  for (let c: unknown = e, depth = 0; c && depth < 8; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-DF-Z][0-9A-Z]{4}$/.test(code)) return code;
  }
  return undefined;
}

/**
 * Whether Postgres refused the statement for the data it carries (see {@link DATA_CLASSES}):
 * the same rows would be refused again, other rows would not. A row for which no partition
 * exists (SQLSTATE 23514 too) is the database's maintenance, not the data, so it is not one.
 */
export function isDataError(e: unknown): boolean {
  const state = sqlState(e);
  if (state === undefined || !DATA_CLASSES.has(state.slice(0, 2))) return false;
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    if (c instanceof Error && /no partition of relation/.test(c.message)) return false;
  }
  return true;
}

/**
 * A summary of a database error for the server's log: its SQLSTATE and the driver's own message
 * (such as `index row size 3016 exceeds btree version 4 maximum 2704 for index ...`), never the
 * query, its parameters or Postgres's `detail` (which can quote the row's values).
 */
export function describeDbError(e: unknown): { sqlstate?: string; message: string } {
  let message = "unknown error";
  for (let c: unknown = e, depth = 0; c && depth < 8; c = (c as { cause?: unknown }).cause, depth++) {
    const m = c instanceof Error ? c.message : typeof c === "string" ? c : undefined;
    // the deepest message wins (the driver's); drizzle's wrapper "Failed query: <sql>\nparams: <values>" never does
    if (m !== undefined && !m.startsWith("Failed query")) message = m;
  }
  const sqlstate = sqlState(e);
  return sqlstate ? { sqlstate, message: message.slice(0, 500) } : { message: message.slice(0, 500) };
}
