#!/usr/bin/env node
// The `verdict-mcp` gateway command. It runs from its TypeScript sources through tsx's loader.
import { register } from "tsx/esm/api";

register();
await import("../packages/mcp/src/gateway/cli.ts");
