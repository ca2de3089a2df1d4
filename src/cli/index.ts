/**
 * The `verdict` command line (commander): the command tree of `program.ts`, parsed from
 * `process.argv`. Commands talk to files, to the database, or to a running Verdict over HTTP.
 * A {@link CliError} ends a command with its message on stderr and its exit code.
 */
import { CliError } from "./output.js";
import { createProgram } from "./program.js";

const program = createProgram();
try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (!(e instanceof CliError)) throw e;
  console.error(`verdict: ${e.message}`);
  process.exitCode = e.exitCode;
}
