/**
 * The `verdict` command tree (commander), built without parsing anything: each command lives in
 * `commands/<name>.ts` and is registered here. `index.ts` parses `process.argv` with it; tests
 * read its help texts in-process.
 */
import { Command } from "commander";
import { registerActivate } from "./commands/activate.js";
import { registerApprovals } from "./commands/approvals.js";
import { registerAudit } from "./commands/audit.js";
import { registerDecisions } from "./commands/decisions.js";
import { registerDiff } from "./commands/diff.js";
import { registerKeys } from "./commands/keys.js";
import { registerPin } from "./commands/pin.js";
import { registerPublish } from "./commands/publish.js";
import { registerReplay } from "./commands/replay.js";
import { registerRollback } from "./commands/rollback.js";
import { registerServe } from "./commands/serve.js";
import { registerTest } from "./commands/test.js";
import { registerValidate } from "./commands/validate.js";
import { registerVersions } from "./commands/versions.js";
import { VERSION } from "../paths.js";

/** A new `verdict` program with every command registered. */
export function createProgram(): Command {
  const program = new Command();
  program
    .name("verdict")
    .description("Verdict: a policy decision point for AI agent tool calls, built on Cedar.")
    .version(VERSION, "-V, --version", "Print Verdict's version.")
    .helpOption("-h, --help", "Show help for the command.")
    .helpCommand("help [command]", "Show help for a command.")
    .showHelpAfterError();

  registerServe(program);
  registerValidate(program);
  registerTest(program);
  registerPin(program);
  registerPublish(program);
  registerVersions(program);
  registerActivate(program);
  registerRollback(program);
  registerDiff(program);
  registerReplay(program);
  registerKeys(program);
  registerDecisions(program);
  registerAudit(program);
  registerApprovals(program);
  return program;
}
