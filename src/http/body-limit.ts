/**
 * The request-body limit, answered so that the connection stays usable. hono's own `bodyLimit`
 * answers 413 without reading the rest of the body; `@hono/node-server` then gives the unread
 * bytes 500 ms to arrive and destroys the socket. An HTTP/1.1 client that stops sending once it
 * has its answer (Node's `fetch`, undici) keeps the connection as idle, and its next request on
 * it fails (`UND_ERR_SOCKET`): for a PEP, a spurious deny. So a body over the limit is read to
 * its end and thrown away, up to {@link BODY_DISCARD_BYTES}, before the 413 is sent: the
 * connection is then where HTTP/1.1 expects it and is kept alive. A body larger than that (by its
 * `Content-Length`, or as it arrives when chunked) gets its 413 with `Connection: close` instead,
 * and the client opens a new connection for its next request.
 */
import type { MiddlewareHandler } from "hono";
import { VerdictError } from "./errors.js";

/**
 * Largest request body, in bytes (16 MiB), read to its end and thrown away to answer a 413 on a
 * connection that stays open; a larger one gets its 413 with `Connection: close`.
 */
export const BODY_DISCARD_BYTES = 16 * 1024 * 1024;

/**
 * Reads `reader` to its end, throwing the bytes away, unless more than `budget` bytes follow.
 * @returns true when the body ended within the budget; false when it is longer, or the client
 *   went away (the connection must not be reused in either case)
 */
async function discard(reader: ReadableStreamDefaultReader<Uint8Array>, budget: number): Promise<boolean> {
  let read = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return true;
      read += value.byteLength;
      if (read > budget) return false;
    }
  } catch {
    return false;
  } finally {
    reader.releaseLock();
  }
}

/**
 * Refuses request bodies over `maxBytes` with a 413 (`payload_too_large`), declared
 * (`Content-Length`) or not (chunked). A body within the limit reaches the routes unchanged (a
 * chunked one is buffered: at most `maxBytes`). See the module comment for the connection.
 * @param maxBytes largest body accepted, in bytes
 * @param discardBytes largest body (in bytes, whole) read to its end to keep the connection open
 * @throws VerdictError `payload_too_large` (413), to the app's `onError`
 */
export function bodyLimit(maxBytes: number, discardBytes: number = BODY_DISCARD_BYTES): MiddlewareHandler {
  const tooLarge = () => new VerdictError("payload_too_large", `request body is larger than ${maxBytes} bytes`);
  return async (c, next) => {
    const body = c.req.raw.body;
    if (!body) return next();
    const length = c.req.raw.headers.get("content-length");
    // Node's parser frames a body by its Content-Length (exactly that many bytes, never more),
    // unless Transfer-Encoding is present, which takes precedence (RFC 9112 §6.3).
    if (length !== null && !c.req.raw.headers.has("transfer-encoding")) {
      const declared = /^\d+$/.test(length) ? Number(length) : Infinity;
      if (declared <= maxBytes) return next();
      if (declared > discardBytes || !(await discard(body.getReader(), discardBytes))) c.header("connection", "close");
      throw tooLarge();
    }
    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        // The client went away mid-body: nobody reads the answer, and the connection is gone.
        c.header("connection", "close");
        throw new VerdictError("bad_request", "request body ended early");
      }
      if (chunk.done) break;
      size += chunk.value.byteLength;
      if (size > maxBytes) {
        if (!(await discard(reader, discardBytes - size))) c.header("connection", "close");
        throw tooLarge();
      }
      chunks.push(chunk.value);
    }
    reader.releaseLock();
    const buffer = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      buffer.set(chunk, offset);
      offset += chunk.byteLength;
    }
    c.req.raw = new Request(c.req.raw, { body: buffer });
    return next();
  };
}
