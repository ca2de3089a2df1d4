import type { Command } from "commander";
import { readSources } from "../../policy/sources.js";
import { api, serverOf, serverOptions, type ServerFlags, type ServerOptions } from "../client.js";
import { projectDirs } from "../output.js";

/** Publishes the sources of a project directory; returns the server's answer. */
export async function publishDir(dir: string | undefined, schemaDir: string | undefined, message: string | undefined, server: ServerOptions) {
  const dirs = projectDirs(dir, schemaDir);
  const sources = readSources(dirs.policyDir, dirs.schemaDir);
  return api<{ version: string; created: boolean; active: boolean }>(server, "POST", "/v1/policy-sets", { sources, message });
}

/**
 * `verdict publish [dir]`: sends the policy set of a directory to a running Verdict, which
 * validates it and stores it as a version (not yet active). Invalid sets are refused with the
 * validator's errors.
 */
export function registerPublish(program: Command): void {
  serverOptions(
    program
      .command("publish [dir]")
      .description("Publish a policy directory (default ./policies) as a new version, validated but not active (activate it with verdict activate).")
      .option("--schema-dir <dir>", "The schema directory (default: schema beside the policy directory).")
      .option("-m, --message <text>", "What this version changes."),
  ).action(async (dir: string | undefined, opts: ServerFlags & { schemaDir?: string; message?: string }) => {
    const answer = await publishDir(dir, opts.schemaDir, opts.message, serverOf(opts));
    console.log(`${answer.created ? "published" : "already published"} ${answer.version}${answer.active ? " (active)" : ""}`);
  });
}
