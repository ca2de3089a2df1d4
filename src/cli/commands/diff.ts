import type { Command } from "commander";
import type { VersionDiff } from "../../policy-versions/diff.js";
import { api, serverOf, serverOptions, type ServerFlags } from "../client.js";

/** `verdict diff <version> [--against <version>]`: what a version changes, by policy, tool and file. */
export function registerDiff(program: Command): void {
  serverOptions(
    program
      .command("diff <version>")
      .description("Show what a published version changes against another (by default the active one).")
      .option("--against <version>", "The version to compare with.", "active"),
  ).action(async (version: string, opts: ServerFlags & { against: string }) => {
    const d = await api<VersionDiff>(serverOf(opts), "GET", `/v1/policy-sets/${encodeURIComponent(version)}/diff?against=${encodeURIComponent(opts.against)}`);
    console.log(`from ${d.from}\nto   ${d.to}`);
    for (const [what, c] of [["policy", d.policies], ["tool", d.tools]] as const) {
      for (const id of c.added) console.log(`+ ${what} ${id}`);
      for (const id of c.removed) console.log(`- ${what} ${id}`);
      for (const id of c.changed) console.log(`~ ${what} ${id}`);
    }
    for (const f of d.files) process.stdout.write(`\n${f.patch}`);
    if (!d.files.length) console.log("no changes");
  });
}
