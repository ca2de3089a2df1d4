/**
 * `X-Request-ID`: the caller's id for a request, echoed on every answer and kept in the decision
 * record (`requestId`), so a gateway's logs and Verdict's record can be joined. Trace ids of
 * other systems are accepted as they are (AWS `Root=1-...;Parent=...;Sampled=1`, W3C
 * `traceparent`, dotted ids): any printable ASCII but space, up to {@link REQUEST_ID_MAX}
 * characters. An id outside that is refused with a 400 naming the header, never replaced
 * silently: a replaced id would record the decision under an id the caller never sees in its
 * own logs. Without the header (or with it empty) Verdict makes one, a UUIDv7.
 */
import type { MiddlewareHandler } from "hono";
import { v7 as uuidv7 } from "uuid";
import { REQUEST_ID_MAX } from "../contract/limits.js";
import { VerdictError } from "./errors.js";

/** A request id Verdict keeps: 1 to {@link REQUEST_ID_MAX} characters from `!` (0x21) to `~` (0x7E). */
const VALID = new RegExp(`^[\\x21-\\x7e]{1,${REQUEST_ID_MAX}}$`);

/** The request-id header, as Verdict writes it. */
export const REQUEST_ID_HEADER = "X-Request-ID";

/**
 * Sets the hono variable `requestId` and the `X-Request-ID` answer header: the caller's id when
 * valid, else a new UUIDv7.
 * @throws VerdictError `bad_request` (400) when the caller's id is not 1 to
 *   {@link REQUEST_ID_MAX} printable ASCII characters without space; the 400 carries a new id
 */
export function requestIdHeader(): MiddlewareHandler<{ Variables: { requestId: string } }> {
  return async (c, next) => {
    const given = c.req.header(REQUEST_ID_HEADER);
    const valid = given !== undefined && VALID.test(given);
    const id = valid ? given : uuidv7();
    c.set("requestId", id);
    c.header(REQUEST_ID_HEADER, id);
    if (given && !valid) {
      throw new VerdictError(
        "bad_request",
        `${REQUEST_ID_HEADER} must be 1 to ${REQUEST_ID_MAX} printable ASCII characters (0x21-0x7E, no spaces); got ${given.length} characters`,
      );
    }
    await next();
  };
}
