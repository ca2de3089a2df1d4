import type { Command } from "commander";
import { api, serverOf, serverOptions, type ServerFlags } from "../client.js";

/** `verdict rollback`: re-activates the version that was in force before the current one. */
export function registerRollback(program: Command): void {
  serverOptions(program.command("rollback").description("Re-activate the version in force before the current one.")).action(async (opts: ServerFlags) => {
    const answer = await api<{ version: string; activatedAt: string }>(serverOf(opts), "POST", "/v1/policy-sets/rollback");
    console.log(`rolled back to ${answer.version} at ${answer.activatedAt}`);
  });
}
