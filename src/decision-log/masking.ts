/**
 * Masking of recorded arguments. Per tool (`"<server>/<tool>"`), JSONPath expressions
 * (`$.password`, `$.headers.authorization`, `$..token`) name argument values that are stored
 * masked (`"***"`) or hashed (`"sha256:<hex of the value's canonical JSON>"`), in the record's
 * `arguments` and in the copy inside the Cedar request (`request.context.input`).
 *
 * Masking happens after the decision, on the record only: the engine always sees the real
 * values, and `argumentsSha256` stays the hash of the unmasked canonical arguments, so a
 * holder of the original arguments can still prove which call was decided.
 */
import { readFileSync } from "node:fs";
import { JSONPath } from "jsonpath-plus";
import { z } from "zod";
import { canonicalSha256, type UnchainedRecord } from "./record.js";

/** What a masked value is stored as. */
export const MASKED = "***";

const JsonPathExpr = z
  .string()
  .regex(/^\$/, "must be a JSONPath starting with $, e.g. $.password")
  .refine((p) => !/[?(]/.test(p), "filter and script expressions (?(), ()) are not allowed");

/**
 * The masking configuration (`VERDICT_MASKING_FILE`), e.g.
 * `{"http/fetch": {"mask": ["$.headers.authorization"], "hash": ["$.account"]}}`.
 */
export const MaskingRules = z
  .record(z.string(), z.strictObject({ mask: z.array(JsonPathExpr).default([]), hash: z.array(JsonPathExpr).default([]) }))
  .superRefine((rules, ctx) => {
    for (const key of Object.keys(rules)) {
      if (!/^[^/]+\/.+$/.test(key)) ctx.addIssue({ code: "custom", path: [key], message: 'keys are "<server>/<tool>"' });
    }
  });
export type MaskingRules = z.output<typeof MaskingRules>;

/** The masking file cannot be read or is not valid; the message says where. */
export class MaskingConfigError extends Error {}

/**
 * Reads and validates a masking file.
 * @throws MaskingConfigError naming the file and the bad entry
 */
export function loadMaskingRules(file: string): MaskingRules {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new MaskingConfigError(`masking file ${file}: ${(e as Error).message}`);
  }
  const parsed = MaskingRules.safeParse(json);
  if (!parsed.success) {
    throw new MaskingConfigError(`masking file ${file}: ` + parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  }
  return parsed.data;
}

/** Replaces every value a path selects in `target` (in place). */
function rewrite(target: unknown, path: string, replace: (v: unknown) => unknown): void {
  if (target === null || typeof target !== "object") return;
  // eval: false: no script evaluation, whatever the expression says.
  const hits = JSONPath({ path, json: target, resultType: "all", wrap: true, eval: false }) as { parent: Record<string, unknown> | null; parentProperty: string | number }[];
  for (const h of hits) if (h.parent) h.parent[h.parentProperty as string] = replace(h.parent[h.parentProperty as string]);
}

/** Applies masking rules to decision records before they are chained and stored. */
export class Masking {
  constructor(private readonly rules: MaskingRules) {}

  /** Whether any rule applies to this tool. */
  covers(server: string, tool: string): boolean {
    return Object.hasOwn(this.rules, `${server}/${tool}`);
  }

  /**
   * The record with its tool's paths masked or hashed in `arguments` and `request.context.input`
   * (copies; the input record is not changed). Records of tools without rules come back as they are.
   */
  apply(record: UnchainedRecord): UnchainedRecord {
    const rule = this.rules[`${record.server}/${record.tool}`];
    if (!rule) return record;
    const args = structuredClone(record.arguments);
    const request = structuredClone(record.request) as { context?: { input?: unknown } } | null;
    for (const target of [args, request?.context?.input]) {
      for (const p of rule.mask) rewrite(target, p, () => MASKED);
      for (const p of rule.hash) rewrite(target, p, (v) => `sha256:${canonicalSha256(v)}`);
    }
    return { ...record, arguments: args, request };
  }
}
