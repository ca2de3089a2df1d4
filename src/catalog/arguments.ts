/**
 * Converts a tool call's JSON arguments into the Cedar value of `context.input`, guided by the
 * tool's resolved input type (see `tool-schema.ts`). Conversion is strict: anything the pinned
 * inputSchema does not declare, or that Cedar cannot represent exactly, is refused, because a
 * value a policy cannot see is a value a policy cannot forbid.
 */
import type { InputType } from "./tool-schema.js";

/** The arguments do not fit the tool's pinned inputSchema; `path` is a JSON pointer to the bad value. */
export class ArgumentsError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path || "/"}: ${message}`);
    this.name = "ArgumentsError";
  }
}

const DECIMAL_MAX = 922337203685477.5807;

function decimalLiteral(n: number, path: string): string {
  let s = String(n);
  if (/e/i.test(s)) {
    if (Math.abs(n) >= 1) throw new ArgumentsError(path, `number ${s} is outside Cedar's decimal range`);
    s = n.toFixed(20).replace(/0+$/, "");
  }
  if (!s.includes(".")) s += ".0";
  const frac = s.split(".")[1]!;
  if (frac.length > 4) throw new ArgumentsError(path, `number ${n} has more than 4 decimal places (Cedar decimal)`);
  if (Math.abs(n) > DECIMAL_MAX) throw new ArgumentsError(path, `number ${n} is outside Cedar's decimal range`);
  return s;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/**
 * @param type the tool's resolved input type
 * @param value the JSON arguments (already parsed without precision loss)
 * @returns the value in Cedar JSON form (`__extn`, `__entity` escapes included)
 * @throws ArgumentsError naming the offending path
 */
export function toCedarValue(type: InputType, value: unknown, path = ""): unknown {
  switch (type.kind) {
    case "string":
      if (typeof value !== "string") throw new ArgumentsError(path, `expected a string, got ${describe(value)}`);
      return value;
    case "bool":
      if (typeof value !== "boolean") throw new ArgumentsError(path, `expected a boolean, got ${describe(value)}`);
      return value;
    case "long":
      if (typeof value !== "number" || !Number.isSafeInteger(value)) {
        throw new ArgumentsError(path, `expected an integer, got ${typeof value === "number" ? value : describe(value)}`);
      }
      return value;
    case "extension":
      if (type.name === "decimal") {
        if (typeof value !== "number" || !Number.isFinite(value)) throw new ArgumentsError(path, `expected a number, got ${describe(value)}`);
        return { __extn: { fn: "decimal", arg: decimalLiteral(value, path) } };
      }
      if (typeof value !== "string") throw new ArgumentsError(path, `expected a string for ${type.name}, got ${describe(value)}`);
      return { __extn: { fn: type.name, arg: value } };
    case "set":
      if (!Array.isArray(value)) throw new ArgumentsError(path, `expected an array, got ${describe(value)}`);
      return value.map((v, i) => toCedarValue(type.element, v, `${path}/${i}`));
    case "record": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw new ArgumentsError(path, `expected an object, got ${describe(value)}`);
      }
      // Own properties only: an argument named "constructor" or "__proto__" must not find
      // Object.prototype's members, and must stay an ordinary key of the result.
      const out: Record<string, unknown> = Object.create(null);
      for (const [k, v] of Object.entries(value)) {
        const attr = Object.hasOwn(type.attributes, k) ? type.attributes[k] : undefined;
        if (!attr) throw new ArgumentsError(`${path}/${k}`, "argument is not declared in the pinned inputSchema");
        out[k] = toCedarValue(attr.type, v, `${path}/${k}`);
      }
      for (const [k, attr] of Object.entries(type.attributes)) {
        if (attr.required && !Object.hasOwn(out, k)) throw new ArgumentsError(`${path}/${k}`, "required argument is missing");
      }
      return out;
    }
    case "entity":
      if (type.enum) {
        if (typeof value !== "string" || !type.enum.includes(value)) {
          throw new ArgumentsError(path, `expected one of ${type.enum.map((e) => JSON.stringify(e)).join(", ")}`);
        }
        return { __entity: { type: type.name, id: value } };
      }
      throw new ArgumentsError(path, `arguments of type ${type.name} are not supported`);
  }
}
