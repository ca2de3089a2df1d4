import type { Context } from "hono";
import type { z } from "zod";
import { fromZod } from "./errors.js";
import { decodeUtf8, parseStrictJson } from "./json.js";

/**
 * Reads and validates a JSON body with a zod schema of the wire contract: UTF-8 ({@link decodeUtf8}),
 * strict JSON ({@link parseStrictJson}), then the schema.
 * @throws VerdictError 400 naming the bad field, or the body's UTF-8 or JSON problem
 */
export async function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const parsed = schema.safeParse(parseStrictJson(decodeUtf8(await c.req.arrayBuffer())));
  if (!parsed.success) throw fromZod(parsed.error);
  return parsed.data;
}
