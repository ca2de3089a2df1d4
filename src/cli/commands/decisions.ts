/**
 * `verdict decisions export`: streams the decision record out of a running Verdict
 * (`GET /v1/decisions/export`) to a file or stdout. It goes through the API rather than the
 * database so that the auditor's key, and its permissions, apply as they do in the explorer.
 * Progress goes to stderr while it runs (every {@link PROGRESS_ROWS} decisions, and at least
 * once a second while rows arrive), then the number of decisions exported.
 */
import { createWriteStream } from "node:fs";
import { Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Option, type Command } from "commander";
import { send, serverOf, serverOptions } from "../client.js";

const FILTERS = ["agent", "user", "server", "tool", "decision", "task", "policy", "caller", "requestId", "traceId", "kind", "policySetVersion", "since", "until"] as const;

/** Help of the filters that are not "only decisions whose <field> is this". */
const FILTER_HELP: Partial<Record<(typeof FILTERS)[number], string>> = {
  since: "Only decisions made at or after this ISO 8601 time.",
  until: "Only decisions made before this ISO 8601 time.",
};

/** A progress line every this many decisions. */
export const PROGRESS_ROWS = 10_000;
/** ... and one at least this often (ms) while decisions arrive. */
const PROGRESS_MS = 1_000;

/**
 * Counts the records of an export as it passes through: lines of JSON Lines, or CSV rows after
 * the header (a newline inside a quoted CSV field does not end a row: RFC 4180 quotes toggle,
 * and an escaped `""` toggles twice).
 */
class RowCounter extends Transform {
  rows = 0;
  #csv: boolean;
  #header: boolean;
  #quoted = false;
  #onProgress: (rows: number) => void;
  #next = PROGRESS_ROWS;
  #last = Date.now();
  #lastRows = 0;

  constructor(format: "jsonl" | "csv", onProgress: (rows: number) => void) {
    super();
    this.#csv = format === "csv";
    this.#header = this.#csv;
    this.#onProgress = onProgress;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    for (const byte of chunk) {
      if (this.#csv && byte === 0x22) this.#quoted = !this.#quoted;
      else if (byte === 0x0a && !this.#quoted) {
        if (this.#header) this.#header = false;
        else this.#count();
      }
    }
    if (this.rows > this.#lastRows && Date.now() - this.#last >= PROGRESS_MS) this.#report();
    done(null, chunk);
  }

  #count(): void {
    this.rows++;
    if (this.rows >= this.#next) {
      this.#next += PROGRESS_ROWS;
      this.#report();
    }
  }

  #report(): void {
    this.#last = Date.now();
    this.#lastRows = this.rows;
    this.#onProgress(this.rows);
  }
}

export function registerDecisions(program: Command): void {
  const decisions = program.command("decisions").description("Read the decision record of a running Verdict.");
  const exp = decisions
    .command("export")
    .description("Stream the decisions matching the filters as JSON Lines or CSV; progress and the count go to stderr.")
    .addOption(new Option("--format <format>", "The output format.").choices(["jsonl", "csv"]).default("jsonl"))
    .option("-o, --output <file>", "Write to this file instead of stdout.")
    .option("--arg <path=substring>", "An argument content filter, e.g. path=/etc (repeatable).", (v: string, acc: string[] | undefined) => [...(acc ?? []), v]);
  for (const f of FILTERS) {
    exp.option(`--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} <value>`, FILTER_HELP[f] ?? `Only decisions whose ${f} is this.`);
  }
  serverOptions(exp).action(async (opts: Record<string, string | string[] | undefined>) => {
    const format = opts.format === "csv" ? "csv" : "jsonl";
    const query = new URLSearchParams({ format });
    for (const f of FILTERS) if (typeof opts[f] === "string") query.set(f, opts[f]);
    for (const a of (opts.arg as string[]) ?? []) {
      const eq = a.indexOf("=");
      if (eq <= 0) program.error(`--arg ${a}: expected <path>=<substring>, e.g. path=/etc`);
      query.append(`arg.${a.slice(0, eq)}`, a.slice(eq + 1));
    }
    const res = await send(serverOf({ url: opts.url as string | undefined, key: opts.key as string | undefined }), "GET", `/v1/decisions/export?${query}`);
    const out: Writable = typeof opts.output === "string" ? createWriteStream(opts.output) : process.stdout;
    const counter = new RowCounter(format, (rows) => process.stderr.write(`exported ${rows} decisions so far\n`));
    await pipeline(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream), counter, out);
    process.stderr.write(`exported ${counter.rows} decision${counter.rows === 1 ? "" : "s"}${typeof opts.output === "string" ? ` to ${opts.output}` : ""}\n`);
  });
}
