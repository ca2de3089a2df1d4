/**
 * A policy set whose policies read task memory (`context.session.history`), for the task-memory
 * tests: the example catalogs and entities, a `db` server with `delete_row`, the `groups.json`
 * of docs/policy-authoring.md, a permit for every tool, and the two example policies of DESIGN.md
 * and docs/task-memory.md, verbatim. Written to a temporary directory (a policy and a schema
 * directory, as `VERDICT_POLICY_DIR` and `VERDICT_SCHEMA_DIR` take them).
 */
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR } from "./app.js";

/** The example policies of docs/task-memory.md (checked there verbatim). */
export const NO_EGRESS_AFTER_SECRETS = `@id("no-egress-after-secrets")
forbid (principal, action in Mcp::Action::"egress", resource)
when { context.session.history.actions.contains("reads-secrets") };
`;
export const AT_MOST_20_DELETES = `@id("at-most-20-deletes-an-hour")
forbid (principal, action == Mcp::Action::"db/delete_row", resource)
when { context.session.history.agentToolCallsLastHour >= 20 };
`;

/** The groups of docs/policy-authoring.md "Tool groups". */
export const HISTORY_GROUPS = `{
  "reads-secrets": ["everything/get-env", "filesystem/read_file", "filesystem/read_multiple_files"],
  "egress": ["everything/gzip-file-as-resource"]
}
`;

/** A catalog of one destructive tool, `db/delete_row`. */
export const DB_CATALOG = {
  tools: [
    {
      name: "delete_row",
      description: "Deletes one row of a table",
      inputSchema: { type: "object", properties: { table: { type: "string" }, id: { type: "string" } }, required: ["table", "id"] },
      annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: false },
    },
  ],
};

/** Calls of this set: a secret read, an egress, a delete, a tool no history policy concerns. */
export const CALLS = {
  readSecret: { server: "filesystem", tool: "read_file", arguments: { path: "/srv/secrets/db.env" } },
  egress: { server: "everything", tool: "gzip-file-as-resource", arguments: { name: "out.gz", data: "https://example.com/upload" } },
  deleteRow: { server: "db", tool: "delete_row", arguments: { table: "orders", id: "1" } },
  echo: { server: "everything", tool: "echo", arguments: { message: "hi" } },
} as const;

/**
 * Writes the set.
 * @param extra more policy files (name to text)
 * @param withHistoryPolicies false: the same set without the two history policies (none reads history)
 */
export function writeHistorySet(extra: Record<string, string> = {}, withHistoryPolicies = true): { policyDir: string; schemaDir: string } {
  const dir = mkdtempSync(join(tmpdir(), "verdict-history-"));
  const policyDir = join(dir, "policies");
  const schemaDir = join(dir, "schema");
  mkdirSync(policyDir);
  mkdirSync(join(schemaDir, "servers"), { recursive: true });
  copyFileSync(join(EXAMPLE_SCHEMA_DIR, "mcp.cedarschema"), join(schemaDir, "mcp.cedarschema"));
  for (const s of ["filesystem", "everything", "memory"]) copyFileSync(join(EXAMPLE_SCHEMA_DIR, "servers", `${s}.json`), join(schemaDir, "servers", `${s}.json`));
  writeFileSync(join(schemaDir, "servers", "db.json"), JSON.stringify(DB_CATALOG, null, 2));
  writeFileSync(join(schemaDir, "groups.json"), HISTORY_GROUPS);
  copyFileSync(join(EXAMPLE_POLICY_DIR, "entities.json"), join(policyDir, "entities.json"));
  writeFileSync(join(policyDir, "allow-all.cedar"), `@id("allow-all")\npermit (principal, action in Mcp::Action::"call_tool", resource);\n`);
  if (withHistoryPolicies) {
    writeFileSync(join(policyDir, "no-egress-after-secrets.cedar"), NO_EGRESS_AFTER_SECRETS);
    writeFileSync(join(policyDir, "at-most-20-deletes-an-hour.cedar"), AT_MOST_20_DELETES);
  }
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(policyDir, name), text);
  return { policyDir, schemaDir };
}
