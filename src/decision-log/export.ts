/**
 * Export of the decision record as JSON Lines (one full record per line) or CSV (one row per
 * record; objects and arrays as JSON text; the full Cedar `request` only in JSON Lines).
 * Records are read in keyset pages and written one page at a time, waiting for the reader
 * between writes, so an export of millions of rows holds one page in memory.
 */
import { stringify } from "csv-stringify/sync";
import type { DecisionRecord } from "../contract/decision-log.js";

/** The CSV columns, in order (the header row). */
export const CSV_COLUMNS = [
  "id",
  "time",
  "kind",
  "agent",
  "user",
  "server",
  "tool",
  "action",
  "decision",
  "reasons",
  "message",
  "policySetVersion",
  "caller",
  "requestId",
  "task",
  "delegation",
  "arguments",
  "argumentsSha256",
  "errors",
  "obligations",
  "evaluationMicros",
  "stream",
  "seq",
  "prevHash",
  "hash",
] as const satisfies readonly (keyof DecisionRecord)[];

/** The media type of each format. */
export const EXPORT_CONTENT_TYPE = { jsonl: "application/x-ndjson", csv: "text/csv; charset=utf-8" } as const;

function cell(v: unknown): string | number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "string" || typeof v === "number") return v;
  return JSON.stringify(v);
}

/** The header of an export (empty for JSON Lines). */
export function exportHeader(format: "jsonl" | "csv"): string {
  return format === "csv" ? stringify([CSV_COLUMNS as unknown as string[]]) : "";
}

/** One page of records in an export format, each line ending with `\n`. */
export function exportPage(format: "jsonl" | "csv", page: DecisionRecord[]): string {
  if (format === "jsonl") return page.map((r) => JSON.stringify(r) + "\n").join("");
  return stringify(page.map((r) => CSV_COLUMNS.map((c) => cell(r[c]))));
}
