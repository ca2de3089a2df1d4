/**
 * What the CLI commands share: locating policy and schema directories, printing load issues as
 * `file:line:column`, plain tables, and the error that ends a command with a non-zero exit.
 */
import { join, relative, resolve } from "node:path";
import { DEFAULT_POLICY_DIR } from "../config.js";
import type { LoadIssue } from "../policy/issues.js";

/** Ends a command: its message goes to stderr and the process exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** A project's policy and schema directories. */
export interface Dirs {
  policyDir: string;
  schemaDir: string;
}

/**
 * The directories a command works on: `[dir]` (default `./policies`) and `--schema-dir`
 * (default: `schema` beside the policy directory).
 */
export function projectDirs(dir: string | undefined, schemaDir: string | undefined): Dirs {
  const policyDir = resolve(dir ?? DEFAULT_POLICY_DIR);
  return { policyDir, schemaDir: resolve(schemaDir ?? join(policyDir, "..", "schema")) };
}

/** An issue's file as a path the user can open (relative to the working directory). */
function issuePath(dirs: Dirs, file: string): string {
  const real = file.startsWith("policies/")
    ? join(dirs.policyDir, file.slice("policies/".length))
    : file.startsWith("schema/")
      ? join(dirs.schemaDir, file.slice("schema/".length))
      : file === "policies"
        ? dirs.policyDir
        : file === "schema"
          ? dirs.schemaDir
          : file;
  return relative(process.cwd(), real) || ".";
}

/** One issue as `path:line:column: error [policy]: message (help)`, the form editors jump to. */
export function formatIssue(dirs: Dirs, i: LoadIssue, severity = "error"): string {
  const where = `${issuePath(dirs, i.file)}${i.line ? `:${i.line}:${i.column ?? 1}` : ""}`;
  return `${where}: ${severity}${i.policyId ? ` [${i.policyId}]` : ""}: ${i.message}${i.help ? ` (${i.help})` : ""}`;
}

/** A plain-text table: a header row and rows, columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/** The short form of a version for tables: `sha256:` and the first 12 hex digits. */
export const shortVersion = (v: string) => v.slice(0, 19);
