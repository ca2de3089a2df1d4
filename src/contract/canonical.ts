/**
 * `canonicalSha256`, the RFC 8785 hash both sides of the wire compute, defined in `@verdict/sdk`
 * (`packages/sdk/src/canonical.ts`) and re-exported here for the server.
 * Only `src/contract/` imports from `packages/`, and only by these relative re-exports: the schemas
 * are defined once, in `@verdict/sdk`, which imports nothing from the server. (Relative, so that
 * tsx and the compiled `dist/` both resolve them without a build of the package.)
 */
export { canonicalSha256 } from "../../packages/sdk/src/canonical.js";
