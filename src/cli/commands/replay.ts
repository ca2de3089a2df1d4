import type { Command } from "commander";
import type { ReplayProgress, ReplayReport } from "../../policy-versions/replay.js";
import { send, serverOf, serverOptions, type ServerFlags } from "../client.js";
import { CliError, table } from "../output.js";
import { publishDir } from "./publish.js";

type Opts = ServerFlags & { since?: string; until?: string; examples: string; dir?: string; schemaDir?: string; json?: boolean; failOnFlips?: boolean };

function printReport(r: ReplayReport): void {
  console.log(`candidate ${r.candidate}`);
  console.log(`replayed ${r.replayed} decisions${r.since || r.until ? ` from ${r.since ?? "the start"} until ${r.until ?? "now"}` : ""} in ${r.durationMs} ms (${r.perSecond}/s)`);
  console.log(`flips: ${r.flips.allowToDeny} allow→deny, ${r.flips.denyToAllow} deny→allow; ${r.unchanged} unchanged`);
  if (r.byTool.length) {
    console.log(`\n${table(["TOOL", "ALLOW→DENY", "DENY→ALLOW"], r.byTool.map((t) => [`${t.server}/${t.tool}`, String(t.allowToDeny), String(t.denyToAllow)]))}`);
    console.log(`\n${table(["AGENT", "ALLOW→DENY", "DENY→ALLOW"], r.byAgent.map((a) => [a.agent, String(a.allowToDeny), String(a.denyToAllow)]))}`);
  }
  for (const dir of ["allowToDeny", "denyToAllow"] as const) {
    if (!r.examples[dir].length) continue;
    console.log(`\nexamples (${dir === "allowToDeny" ? "allow→deny" : "deny→allow"}):`);
    for (const e of r.examples[dir]) {
      console.log(`  ${e.decisionId} ${e.time} ${e.agent}${e.user ? ` for ${e.user}` : ""} ${e.server}/${e.tool}: was ${e.recorded.reasons.join(", ") || "no policy"}, now ${e.candidate.reasons.join(", ") || "no policy"}`);
    }
  }
}

/**
 * `verdict replay [version]`: re-evaluates recorded decisions against a candidate version (or,
 * with `--dir`, the policy files of a directory, published first but not activated) and prints
 * the flips. Progress goes to stderr while it runs.
 */
export function registerReplay(program: Command): void {
  serverOptions(
    program
      .command("replay [version]")
      .description("Replay recorded decisions against a candidate version and report the flips (allow→deny, deny→allow).")
      .option("--dir <dir>", "Replay the policy files of this directory instead of a published version (publishes them, does not activate them).")
      .option("--schema-dir <dir>", "The schema directory for --dir (default: schema beside it).")
      .option("--since <time>", "Start of the time range, ISO 8601 (inclusive).")
      .option("--until <time>", "End of the time range, ISO 8601 (exclusive).")
      .option("--examples <n>", "How many examples to show per direction.", "10")
      .option("--json", "Print the report as JSON.")
      .option("--fail-on-flips", "Exit 3 when any decision flips (for CI)."),
  ).action(async (version: string | undefined, opts: Opts) => {
    if (Boolean(version) === Boolean(opts.dir)) throw new CliError("give a version or --dir <policy directory>", 2);
    const server = serverOf(opts);
    const candidate = version ?? (await publishDir(opts.dir, opts.schemaDir, "replay candidate", server)).version;
    const body = { since: opts.since, until: opts.until, examples: Number(opts.examples) };
    const res = await send(server, "POST", `/v1/policy-sets/${encodeURIComponent(candidate)}/replay`, body, "application/x-ndjson");
    let report: ReplayReport | null = null;
    let buffered = "";
    const decoder = new TextDecoder();
    const handle = (line: string) => {
      if (!line.trim()) return;
      const msg = JSON.parse(line) as { progress?: ReplayProgress; report?: ReplayReport; error?: { message: string } };
      if (msg.progress) {
        const p = msg.progress;
        const pct = p.total ? Math.round((100 * p.replayed) / p.total) : 100;
        const rate = Math.round(p.replayed / Math.max(p.elapsedMs / 1000, 0.001));
        process.stderr.write(`replayed ${p.replayed}/${p.total} (${pct}%), flips ${p.allowToDeny} allow→deny ${p.denyToAllow} deny→allow, ${rate}/s\n`);
      } else if (msg.report) report = msg.report;
      else if (msg.error) throw new CliError(msg.error.message);
    };
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      lines.forEach(handle);
    }
    handle(buffered);
    if (!report) throw new CliError("the replay ended without a report");
    const r: ReplayReport = report;
    if (opts.json) console.log(JSON.stringify(r, null, 2));
    else printReport(r);
    if (opts.failOnFlips && r.flips.allowToDeny + r.flips.denyToAllow > 0) process.exitCode = 3;
  });
}
