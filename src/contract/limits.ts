/**
 * The documented maxima of every request field that reaches the database (docs/limits.md),
 * defined in `@verdict/sdk` (`packages/sdk/src/limits.ts`, where the reasons for each number are)
 * and re-exported here for the server.
 * Only `src/contract/` imports from `packages/`, and only by these relative re-exports: the schemas
 * are defined once, in `@verdict/sdk`, which imports nothing from the server. (Relative, so that
 * tsx and the compiled `dist/` both resolve them without a build of the package.)
 */
export * from "../../packages/sdk/src/limits.js";
