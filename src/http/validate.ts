import type { Context } from "hono";
import type { z } from "zod";
import { fromZod } from "./errors.js";
import { parseStrictJson } from "./json.js";

/**
 * Reads and validates a JSON body with a zod schema of the wire contract.
 * @throws VerdictError 400 naming the bad field, or the body's JSON problem
 */
export async function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const parsed = schema.safeParse(parseStrictJson(await c.req.text()));
  if (!parsed.success) throw fromZod(parsed.error);
  return parsed.data;
}
