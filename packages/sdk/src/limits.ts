/**
 * The documented maxima of every request field that reaches the database (docs/limits.md).
 * One module, so the wire schemas (`wire.ts` here, the server's `src/authzen/wire.ts`), the
 * server's request-id middleware and the docs agree (the server re-exports it as
 * `src/contract/limits.ts`). It depends on zod only.
 *
 * Why these numbers: each value ends up in a btree index of `decisions` (`agent`, `user_id`,
 * `server` + `tool`, `task_id`, `caller`, `request_id`), and Postgres refuses a row whose index
 * entry exceeds 2,704 bytes (one third of an 8 KiB page, less overhead): it then rejects the whole
 * multi-row INSERT of a group commit. Lengths are counted as JavaScript counts them (UTF-16 code
 * units, zod's `.max()`), and one code unit is at most 3 bytes of UTF-8, so an id of
 * {@link ID_MAX} units is at most 768 bytes. The widest index entry, `(server, tool, time)` for
 * `/v1/authorize` where `server` is `<type>::"<id>"`, is then at most 3 × (128 + 4 + 2 × 256)
 * ≈ 1.9 KB, under the limit with room to spare.
 */
import { z } from "zod";

/** Most characters (UTF-16 code units) of an id or name: agent, user, server, tool, task id, entity id, AuthZEN id and action name. */
export const ID_MAX = 256;
/** Most characters of a Cedar entity type or an AuthZEN `type` (`Mcp::Agent`, `user`). */
export const TYPE_MAX = 128;
/** Most characters of a task's `kind` and of an MCP client name (`clientInfo.name`). */
export const KIND_MAX = 256;
/**
 * Most characters of a request id (`X-Request-ID`, recorded as `requestId`). Hono's request-id
 * middleware default, kept: 255 bytes of printable ASCII.
 */
export const REQUEST_ID_MAX = 255;
/** Most requests in one `POST /v1/authorize/batch` and evaluations in one AuthZEN `POST /access/v1/evaluations`. */
export const BATCH_MAX = 100;
/** Most entities in one `/v1/authorize` request. */
export const ENTITIES_MAX = 1_000;
/** Most parents of one entity supplied in a request. */
export const PARENTS_MAX = 100;
/** Most tools in one `POST /v1/mcp/tools/list` request. */
export const TOOLS_MAX = 10_000;

/**
 * Characters an id may not hold: C0 controls (NUL among them, which Postgres cannot store in
 * `text` or `jsonb`), DEL, and lone UTF-16 surrogates (not Unicode scalar values: Postgres
 * refuses them in `jsonb`, and they have no UTF-8 form).
 */
const FORBIDDEN = /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A bounded string of `min` (default 1) to `max` characters without control characters or lone
 * surrogates; the 400 zod produces names the field (its path) and the limit.
 */
export function boundedString(max: number, min = 1): z.ZodString {
  return z
    .string()
    .min(min)
    .max(max, { error: `at most ${max} characters` })
    .refine(isCleanString, { error: "no control characters or lone surrogates" });
}

/** Whether a string holds no control character and no lone surrogate. */
export function isCleanString(s: string): boolean {
  return !FORBIDDEN.test(s);
}
