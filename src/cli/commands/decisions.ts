/**
 * `verdict decisions export`: streams the decision record out of a running Verdict
 * (`GET /v1/decisions/export`) to a file or stdout. It goes through the API rather than the
 * database so that the auditor's key, and its permissions, apply as they do in the explorer.
 */
import { createWriteStream } from "node:fs";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Option, type Command } from "commander";
import { apiOptions, apiRequest } from "../api.js";

const FILTERS = ["agent", "user", "server", "tool", "decision", "task", "policy", "caller", "requestId", "traceId", "kind", "policySetVersion", "since", "until"] as const;

export function registerDecisions(program: Command): void {
  const decisions = program.command("decisions").description("read the decision record of a running Verdict");
  const exp = decisions
    .command("export")
    .description("stream decisions matching the filters as JSON Lines or CSV")
    .addOption(new Option("--format <format>", "output format").choices(["jsonl", "csv"]).default("jsonl"))
    .option("-o, --output <file>", "write to this file instead of stdout")
    .option("--arg <path=substring>", "argument content filter, e.g. path=/etc (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[]);
  for (const f of FILTERS) exp.option(`--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} <value>`, `only decisions whose ${f} is this`);
  apiOptions(exp).action(async (opts: Record<string, string | string[] | undefined>) => {
    const query = new URLSearchParams({ format: String(opts.format) });
    for (const f of FILTERS) if (typeof opts[f] === "string") query.set(f, opts[f]);
    for (const a of (opts.arg as string[]) ?? []) {
      const eq = a.indexOf("=");
      if (eq <= 0) program.error(`--arg ${a}: expected <path>=<substring>, e.g. path=/etc`);
      query.append(`arg.${a.slice(0, eq)}`, a.slice(eq + 1));
    }
    const res = await apiRequest(program, opts, `/v1/decisions/export?${query}`);
    const out: Writable = typeof opts.output === "string" ? createWriteStream(opts.output) : process.stdout;
    await pipeline(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream), out);
  });
}
