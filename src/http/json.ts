/**
 * Strict JSON for decision requests. `JSON.parse` silently rounds numbers it cannot hold exactly,
 * and a rounded number can turn a deny into an allow (Cedar's own corpus: `9007199254740993`
 * matched a policy testing `== 9007199254740992`). This parser refuses such numbers instead
 * (integers beyond ±2^53, however they are written, and numbers with more digits than a 64-bit
 * float keeps), refuses duplicate keys (two readers could disagree on which one counts), and
 * refuses strings and keys that Postgres cannot store as they are (NUL characters, lone UTF-16
 * surrogates): such a decision could not be recorded, or would be recorded altered, which breaks
 * its hash. Nesting is limited ({@link MAX_JSON_DEPTH}): every later step (schema checks, Cedar
 * conversion, canonical hashing) walks the value recursively.
 */
import { getUnsafeNumberReason, isInteger, parse } from "lossless-json";
import { VerdictError } from "./errors.js";

/** Deepest nesting of arrays and objects a request body may have. */
const MAX_JSON_DEPTH = 64;

/** Refuses text nested deeper than {@link MAX_JSON_DEPTH}, before any recursive parser sees it. */
function checkDepth(text: string): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) throw new VerdictError("bad_request", `body is nested deeper than ${MAX_JSON_DEPTH} levels`);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

function parseNumber(text: string): number {
  const n = Number(text);
  const unsafe = getUnsafeNumberReason(text);
  if (unsafe === undefined) return n;
  if (unsafe === "overflow") throw new VerdictError("bad_request", `number ${text} is out of range`);
  if (unsafe === "underflow") throw new VerdictError("bad_request", `number ${text} is too close to zero to be represented (it would become 0)`);
  if (isInteger(text) || Number.isInteger(n)) {
    throw new VerdictError("bad_request", `integer ${text} is beyond ±2^53 and cannot be represented exactly`);
  }
  throw new VerdictError("bad_request", `number ${text} has more digits than a 64-bit float keeps (it would become ${n})`);
}

/** Lone surrogates: a high one not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkText(text: string, what: string): void {
  if (text.includes("\u0000")) throw new VerdictError("bad_request", `${what} must not contain NUL (\\u0000) characters`);
  if (LONE_SURROGATE.test(text)) throw new VerdictError("bad_request", `${what} must not contain unpaired UTF-16 surrogates`);
}

function storable(key: string, value: unknown): unknown {
  checkText(key, "keys");
  if (typeof value === "string") checkText(value, "strings");
  return value;
}

/** Decodes UTF-8 strictly: an invalid sequence is an error, never a U+FFFD in its place. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes a request body as UTF-8 (RFC 8259 §8.1: JSON exchanged between systems is UTF-8). The
 * WHATWG decoder's replacement of invalid bytes by U+FFFD is refused: Verdict would decide, and
 * record, a string the caller never sent, and two readers of the same bytes could disagree. A
 * leading byte-order mark is dropped, as `Response.text()` does.
 * @throws VerdictError `bad_request` (400) for bytes that are not valid UTF-8 (stray
 *   continuation bytes, truncated or overlong sequences, encoded surrogates, code points beyond
 *   U+10FFFF)
 */
export function decodeUtf8(bytes: ArrayBuffer | Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new VerdictError("bad_request", "body is not valid UTF-8");
  }
}

/** Options of {@link parseStrictJson}. */
export interface StrictJsonOptions {
  /**
   * Accept NUL characters in strings. Only for JSON that is never recorded (Cedar's conformance
   * test files, where NUL is a legal Cedar string character); request bodies keep the default.
   */
  allowNul?: boolean;
}

/**
 * Parses a request body.
 * @throws VerdictError `invalid_json` (400) for malformed JSON or duplicate keys, `bad_request`
 *   (400) for numbers that cannot be represented exactly, NUL characters, lone surrogates or
 *   nesting deeper than {@link MAX_JSON_DEPTH}
 */
export function parseStrictJson(text: string, options: StrictJsonOptions = {}): unknown {
  checkDepth(text);
  try {
    return parse(text, options.allowNul ? null : storable, parseNumber);
  } catch (e) {
    if (e instanceof VerdictError) throw e;
    throw new VerdictError("invalid_json", `body is not valid JSON: ${(e as Error).message}`);
  }
}
