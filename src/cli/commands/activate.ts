import type { Command } from "commander";
import { api, serverOptions, type ServerOptions } from "../client.js";

/** `verdict activate <version>`: makes a published version the one every replica serves. */
export function registerActivate(program: Command): void {
  serverOptions(
    program.command("activate <version>").description("activate a published version (full hash or a unique prefix) on every replica"),
  ).action(async (version: string, opts: ServerOptions) => {
    const answer = await api<{ version: string; activatedAt: string }>(opts, "POST", `/v1/policy-sets/${encodeURIComponent(version)}/activate`);
    console.log(`activated ${answer.version} at ${answer.activatedAt}; replicas switch within 2 s`);
  });
}
