import type { Command } from "commander";
import { api, serverOf, serverOptions, type ServerFlags } from "../client.js";
import { shortVersion, table } from "../output.js";

interface VersionRow {
  version: string;
  publishedAt: string;
  publishedBy: string | null;
  message: string | null;
  active: boolean;
}

/** `verdict versions`: the published versions, newest first, the active one marked. */
export function registerVersions(program: Command): void {
  serverOptions(program.command("versions").description("List the published policy-set versions, newest first (* marks the active one).")).action(async (opts: ServerFlags) => {
    const answer = await api<{ versions: VersionRow[]; serving: string | null }>(serverOf(opts), "GET", "/v1/policy-sets");
    if (!answer.versions.length) {
      console.log("no versions published yet (verdict publish)");
      return;
    }
    console.log(
      table(
        ["", "VERSION", "PUBLISHED", "BY", "MESSAGE"],
        answer.versions.map((v) => [v.active ? "*" : "", shortVersion(v.version), v.publishedAt, v.publishedBy ?? "-", v.message ?? ""]),
      ),
    );
    if (answer.serving) console.log(`\nthis server serves ${answer.serving}`);
  });
}
