import type { Command } from "commander";
import { api, serverOf, serverOptions, type ServerFlags } from "../client.js";

/** `verdict activate <version>`: makes a published version the one every replica serves. */
export function registerActivate(program: Command): void {
  serverOptions(
    program.command("activate <version>").description("Activate a published version (its full hash or a unique prefix) on every replica."),
  ).action(async (version: string, opts: ServerFlags) => {
    const answer = await api<{ version: string; activatedAt: string }>(serverOf(opts), "POST", `/v1/policy-sets/${encodeURIComponent(version)}/activate`);
    console.log(`activated ${answer.version} at ${answer.activatedAt}; replicas switch within 2 s`);
  });
}
