/**
 * The keyset cursor of Verdict's paged lists (decisions, approval requests): the `(time, id)` of
 * a page's last row, as base64url JSON. Pages read `(time, id) < cursor` (or `>` oldest first),
 * so paging stays stable while rows are added.
 */

/** The cursor does not decode: it is not one this server issued. */
export class CursorError extends Error {}

/** The cursor of a row whose page ends there. */
export function encodeCursor(time: Date, id: string): string {
  return Buffer.from(JSON.stringify([time.toISOString(), id])).toString("base64url");
}

/**
 * The `(time, id)` a cursor names.
 * @throws CursorError when it does not decode to an instant and a UUID
 */
export function decodeCursor(cursor: string): [Date, string] {
  try {
    const [t, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as [string, string];
    const time = new Date(t);
    if (Number.isNaN(time.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) throw new Error();
    return [time, id];
  } catch {
    throw new CursorError("cursor is not one this server issued");
  }
}
