import type { Command } from "commander";
import { api, serverOptions, type ServerOptions } from "../client.js";

/** `verdict rollback`: re-activates the version that was in force before the current one. */
export function registerRollback(program: Command): void {
  serverOptions(program.command("rollback").description("re-activate the version in force before the current one")).action(async (opts: ServerOptions) => {
    const answer = await api<{ version: string; activatedAt: string }>(opts, "POST", "/v1/policy-sets/rollback");
    console.log(`rolled back to ${answer.version} at ${answer.activatedAt}`);
  });
}
