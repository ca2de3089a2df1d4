#!/usr/bin/env node
// The `verdict-mcp` gateway command of the checkout. It runs from its TypeScript sources through
// tsx's loader, with `@verdict/sdk` resolved to its sources too (the `@verdict/source` condition of
// its `exports`, added by the resolve hook below), so no package build is needed. The installed
// package's own bin is `@verdict/mcp`'s compiled `dist/gateway/cli.js`.
import { register } from "node:module";
import { register as registerTsx } from "tsx/esm/api";

registerTsx();
// Hooks registered last run first: this one adds the condition, then tsx and Node resolve.
const addSourceCondition = `export async function resolve(specifier, context, next) {
  return next(specifier, { ...context, conditions: [...new Set([...context.conditions, "@verdict/source"])] });
}`;
register(`data:text/javascript,${encodeURIComponent(addSourceCondition)}`);
await import("../packages/mcp/src/gateway/cli.ts");
