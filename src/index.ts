/**
 * Verdict's entry point: the server, configured from the environment. `npm start` runs it from
 * the sources through tsx (no build step on a fresh clone); `npm run build` compiles it to
 * `dist/src/index.js`, which `npm run start:prod` and the container image run with plain node.
 */
import { runVerdict } from "./main.js";

void runVerdict();
