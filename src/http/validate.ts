import type { Context } from "hono";
import type { z } from "zod";
import { fromZod } from "./errors.js";
import { decodeUtf8, parseStrictJson } from "./json.js";

/**
 * Reads and validates a JSON body with a zod schema of the wire contract: UTF-8 ({@link decodeUtf8}),
 * strict JSON ({@link parseStrictJson}), then the schema.
 * @param options.optional an empty body reads as `{}` (for endpoints whose body may be left out)
 * @throws VerdictError 400 naming the bad field, or the body's UTF-8 or JSON problem
 */
export async function readBody<S extends z.ZodType>(c: Context, schema: S, options: { optional?: boolean } = {}): Promise<z.output<S>> {
  const bytes = await c.req.arrayBuffer();
  const value = options.optional && bytes.byteLength === 0 ? {} : parseStrictJson(decodeUtf8(bytes));
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fromZod(parsed.error);
  return parsed.data;
}
