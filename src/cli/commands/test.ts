import { relative } from "node:path";
import type { Command } from "commander";
import { FixtureError, loadFixtures, runFixtures } from "../../policy/fixtures.js";
import { loadPolicySet } from "../../policy/build.js";
import { PolicySetError } from "../../policy/issues.js";
import { CliError, formatIssue, projectDirs, table } from "../output.js";

/**
 * `verdict test [dir]`: runs the `ALLOW/*.json` and `DENY/*.json` fixtures beside the policies
 * against the policy set of the directory and prints a table; exit 1 when any fails, when a
 * fixture is malformed, or when the policy set itself is invalid.
 */
export function registerTest(program: Command): void {
  program
    .command("test [dir]")
    .description("Run the ALLOW/ and DENY/ request fixtures of a policy directory (default ./policies).")
    .option("--schema-dir <dir>", "The schema directory (default: schema beside the policy directory).")
    .option("--now <time>", "The instant to evaluate at, ISO 8601 (context.session.requestTime; default: now).")
    .action((dir: string | undefined, opts: { schemaDir?: string; now?: string }) => {
      const dirs = projectDirs(dir, opts.schemaDir);
      const now = opts.now ? new Date(opts.now) : new Date();
      if (Number.isNaN(now.getTime())) throw new CliError(`--now ${JSON.stringify(opts.now)} is not an ISO 8601 instant`, 2);
      let ps;
      try {
        ps = loadPolicySet(dirs.policyDir, dirs.schemaDir);
      } catch (e) {
        if (!(e instanceof PolicySetError)) throw e;
        for (const i of e.issues) console.error(formatIssue(dirs, i));
        throw new CliError("the policy set is invalid; no fixture was run (see verdict validate)");
      }
      let fixtures;
      try {
        fixtures = loadFixtures(dirs.policyDir);
      } catch (e) {
        if (e instanceof FixtureError) throw new CliError(`fixture ${relative(process.cwd(), e.file)} is malformed: ${e.message.slice(e.file.length + 2)}`);
        throw e;
      }
      if (!fixtures.length) throw new CliError(`no fixtures in ${relative(process.cwd(), dirs.policyDir) || "."}/ALLOW or DENY`);
      const results = runFixtures(ps, fixtures, now);
      console.log(
        table(
          ["RESULT", "FIXTURE", "EXPECTED", "GOT", "REASONS"],
          results.map((r) => [
            r.passed ? "pass" : "FAIL",
            `${r.fixture.decision === "allow" ? "ALLOW" : "DENY"}/${r.fixture.name}`,
            r.expected.decision,
            r.actual.decision,
            r.actual.reasons.join(", ") || "-",
          ]),
        ),
      );
      const failed = results.filter((r) => !r.passed);
      for (const r of failed) console.log(`\nFAIL ${relative(process.cwd(), r.fixture.file)}: ${r.fixture.description}\n  ${r.problems.join("\n  ")}`);
      console.log(`\n${results.length - failed.length} passed, ${failed.length} failed (policy set ${ps.version})`);
      if (failed.length) throw new CliError(`${failed.length} fixture${failed.length === 1 ? "" : "s"} failed`);
    });
}
