/**
 * How the benchmark starts a Verdict server process: as production runs it, compiled JavaScript
 * (`npm run build`, then `node dist/src/index.js`; the default), or from the TypeScript sources
 * through tsx (`--server tsx`, as `npm start` does), to measure what the loader costs.
 *
 * `--engine-stub` replaces the Cedar call of the prepared engine by a constant answer in the
 * benchmark's own server process only (`./stub-engine.mjs`, preloaded with `--import`): it
 * measures the path around the engine (HTTP, checks, the record, the commit). Nothing of it is in
 * Verdict's sources: no setting of the server can turn it on.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "./support.js";

/** How the server process runs: compiled (`dist/`) or from the sources through tsx. */
export type ServerMode = "compiled" | "tsx";

let built = false;

/** Builds the compiled server once per benchmark run (`npm run build`), with progress on the console. */
function ensureBuilt(): void {
  if (built) return;
  console.log("building the compiled server (npm run build) ...");
  const started = performance.now();
  execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  if (!existsSync(join(ROOT, "dist", "src", "index.js"))) throw new Error("npm run build made no dist/src/index.js");
  console.log(`  built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  built = true;
}

/**
 * The `node` arguments that start Verdict's server.
 * @param opts.server compiled (default) or tsx
 * @param opts.engineStub preload the engine stub (the path without Cedar)
 * @throws when the build fails
 */
export function verdictProcessArgs(opts: { server?: ServerMode; engineStub?: boolean }): { args: string[]; env: Record<string, string> } {
  const server = opts.server ?? "compiled";
  if (server === "compiled") ensureBuilt();
  const args = server === "tsx" ? ["--import", "tsx"] : [];
  const env: Record<string, string> = {};
  if (opts.engineStub) {
    args.push("--import", pathToFileURL(join(ROOT, "tools", "bench", "stub-engine.mjs")).href);
    env.VERDICT_BENCH_ENGINE_MODULE = pathToFileURL(join(ROOT, ...(server === "compiled" ? ["dist", "src", "cedar", "engine.js"] : ["src", "cedar", "engine.ts"]))).href;
  }
  args.push(server === "compiled" ? join("dist", "src", "index.js") : join("src", "index.ts"));
  return { args, env };
}
