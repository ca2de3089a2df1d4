/**
 * `verdict audit verify`: checks every hash chain of the decision record and every signed chain
 * head, and exits 1 naming the first broken link of each broken stream. By default it reads the
 * database directly (`DATABASE_URL` or `VERDICT_DATA_DIR`), so it does not trust a running
 * server; `--api` asks the server at `--url` instead (needed while a server holds the embedded
 * database: the direct way is then refused, see `src/db/lock.ts`).
 */
import type { Command } from "commander";
import type { VerifyReport } from "../../audit/verify.js";
import { api, serverOf, serverOptions } from "../client.js";

function print(report: VerifyReport): void {
  for (const s of report.reports) {
    const cp = s.checkpoint ? `signed through seq ${s.checkpoint.seq}${s.checkpoint.valid ? "" : " (INVALID signature)"}` : "no signed head";
    const pruned = s.prunedThrough ? `, seq 1-${s.prunedThrough} removed by retention` : "";
    console.log(`${s.ok ? "ok    " : "BROKEN"} stream ${s.stream}: ${s.records} records (seq ${s.firstSeq ?? "-"}..${s.lastSeq ?? "-"}${pruned}), ${cp}`);
    if (s.problem) console.log(`       ${s.problem.kind}: ${s.problem.message}`);
  }
  console.log(`${report.ok ? "OK" : "TAMPERED"}: ${report.records} records in ${report.streams} streams checked at ${report.checkedAt}`);
}

export function registerAudit(program: Command): void {
  const audit = program.command("audit").description("Check the integrity of the decision record.");
  serverOptions(
    audit
      .command("verify")
      .description("Walk every stream's hash chain and signed heads; exit 1 when a record was changed, deleted, reordered or cut off.")
      .option("--stream <id>", "Check one stream only.")
      .option("--broken-only", "List only the broken streams.")
      .option("--json", "Print the report as JSON."),
  )
    .option("--api", "Ask the server at --url instead of reading the database.")
    .action(async (opts: { stream?: string; brokenOnly?: boolean; json?: boolean; api?: boolean; url?: string; key?: string }) => {
      let report: VerifyReport;
      if (opts.api) {
        const q = new URLSearchParams();
        if (opts.stream) q.set("stream", opts.stream);
        if (opts.brokenOnly) q.set("brokenOnly", "true");
        report = await api<VerifyReport>(serverOf(opts), "GET", `/v1/audit/verify?${q}`);
      } else {
        const { withDatabase } = await import("../database.js");
        const { verifyChains } = await import("../../audit/verify.js");
        const [{ loadConfig }, { chainTrustOf }] = await Promise.all([import("../../config.js"), import("../../signing-keys/store.js")]);
        // The configured keys (VERDICT_SIGNING_KEY[_FILE], VERDICT_VERIFY_KEYS_FILE) when set, else the database's.
        const trust = chainTrustOf(loadConfig());
        report = await withDatabase("--api --url <its URL> (or VERDICT_URL) and an auditor key", (database) =>
          verifyChains(database.db, { stream: opts.stream, brokenOnly: opts.brokenOnly, trust }),
        );
      }
      if (opts.json) console.log(JSON.stringify(report, null, 2));
      else print(report);
      process.exitCode = report.ok ? 0 : 1;
    });
}
