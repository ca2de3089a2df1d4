import type { Command } from "commander";
import { loadPolicySet } from "../../policy/build.js";
import { PolicySetError } from "../../policy/issues.js";
import { CliError, formatIssue, projectDirs } from "../output.js";

/**
 * `verdict validate [dir]`: loads the policy set as the server would (Cedar strict validation
 * against the schema and the pinned catalogs, entities, template links) and prints every error
 * as `file:line:column`. Exit 0 when valid, 1 when not.
 */
export function registerValidate(program: Command): void {
  program
    .command("validate [dir]")
    .description("Validate a policy directory (default ./policies) against its schema, in Cedar's strict mode.")
    .option("--schema-dir <dir>", "The schema directory (default: schema beside the policy directory).")
    .action((dir: string | undefined, opts: { schemaDir?: string }) => {
      const dirs = projectDirs(dir, opts.schemaDir);
      try {
        const ps = loadPolicySet(dirs.policyDir, dirs.schemaDir);
        for (const w of ps.warnings) console.log(formatIssue(dirs, w, "warning"));
        const templates = [...ps.policies.values()].filter((p) => p.isTemplate).length;
        console.log(
          `valid: ${ps.policies.size - templates - ps.links.length} policies, ${templates} templates, ${ps.links.length} template-linked policies, ${ps.tools.size} tools on ${ps.servers.size} servers, ${ps.entities.size} entities`,
        );
        console.log(`version ${ps.version}`);
      } catch (e) {
        if (!(e instanceof PolicySetError)) throw e;
        for (const i of e.issues) console.error(formatIssue(dirs, i));
        throw new CliError(`invalid: ${e.issues.length} error${e.issues.length === 1 ? "" : "s"}`);
      }
    });
}
