/**
 * The one hash of a value both sides of the wire compute: Verdict for the decision record's
 * `argumentsSha256` and a credential's `tctx.argumentsSha256`, an MCP server when it checks a
 * credential against the call it receives (the server re-exports it as `src/contract/canonical.ts`).
 * Depends on `canonicalize` and `node:crypto` only.
 */
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

/** SHA-256 (hex) of the RFC 8785 (JSON Canonicalization Scheme) form of a value; `undefined` hashes as `null`. */
export function canonicalSha256(value: unknown): string {
  return createHash("sha256")
    .update(canonicalize(value ?? null) ?? "null")
    .digest("hex");
}
