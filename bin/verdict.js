#!/usr/bin/env node
// The `verdict` command. Verdict runs from its TypeScript sources through tsx's loader.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/index.ts");
