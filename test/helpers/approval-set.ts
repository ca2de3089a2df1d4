/**
 * A policy set with approvable forbids (`@approval("<group>")`), for the approval tests: the
 * example catalogs and entities, a `payments` server with `refund`, the group
 * `release-managers` (erin and frank, who also delegates to agents), a permit for every refund
 * and two forbids: refunds over 100 need an approval by a release manager (approvable), and
 * `report-bot` may never refund (not approvable). Written to a temporary directory (a policy and
 * a schema directory, as `VERDICT_POLICY_DIR` and `VERDICT_SCHEMA_DIR` take them).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR } from "./app.js";

/** The approvable forbid of docs/approvals.md. */
export const REFUND_APPROVAL = `@id("refunds-over-100-need-approval")
@approval("release-managers")
forbid (principal, action == Mcp::Action::"payments/refund", resource)
when { context.input.amount > 100 };
`;

/** A forbid no approval lifts. */
export const NO_REPORT_BOT_REFUNDS = `@id("no-refunds-for-report-bot")
forbid (principal == Mcp::Agent::"report-bot", action == Mcp::Action::"payments/refund", resource);
`;

/** The permit the approvable forbid stands in front of. */
export const ALLOW_REFUNDS = `@id("allow-refunds")
permit (principal, action == Mcp::Action::"payments/refund", resource);
`;

/** A catalog of one tool, `payments/refund`. */
export const PAYMENTS_CATALOG = {
  tools: [
    {
      name: "refund",
      description: "Refunds an order",
      inputSchema: { type: "object", properties: { order: { type: "string" }, amount: { type: "integer" } }, required: ["order", "amount"] },
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    },
  ],
};

/** A refund call of this set (over 100: needs an approval). */
export const BIG_REFUND = { agent: "incident-bot", user: "alice", server: "payments", tool: "refund", arguments: { order: "o-1", amount: 250 }, task: { id: "REFUND-1" } };

/**
 * Writes the set.
 * @param extra more policy files (name to text)
 * @param catalogs more catalogs (server id to `tools/list` result)
 */
export function writeApprovalSet(extra: Record<string, string> = {}, catalogs: Record<string, unknown> = {}): { policyDir: string; schemaDir: string } {
  const dir = mkdtempSync(join(tmpdir(), "verdict-approvals-"));
  const policyDir = join(dir, "policies");
  const schemaDir = join(dir, "schema");
  mkdirSync(policyDir);
  mkdirSync(join(schemaDir, "servers"), { recursive: true });
  copyFileSync(join(EXAMPLE_SCHEMA_DIR, "mcp.cedarschema"), join(schemaDir, "mcp.cedarschema"));
  for (const s of ["filesystem", "everything", "memory"]) copyFileSync(join(EXAMPLE_SCHEMA_DIR, "servers", `${s}.json`), join(schemaDir, "servers", `${s}.json`));
  writeFileSync(join(schemaDir, "servers", "payments.json"), JSON.stringify(PAYMENTS_CATALOG, null, 2));
  for (const [server, catalog] of Object.entries(catalogs)) writeFileSync(join(schemaDir, "servers", `${server}.json`), JSON.stringify(catalog, null, 2));
  const entities = JSON.parse(readFileSync(join(EXAMPLE_POLICY_DIR, "entities.json"), "utf8")) as unknown[];
  entities.push(
    { uid: { type: "Mcp::Group", id: "release-managers" }, attrs: {}, parents: [] },
    { uid: { type: "Mcp::User", id: "erin" }, attrs: {}, parents: [{ type: "Mcp::Group", id: "release-managers" }] },
    { uid: { type: "Mcp::User", id: "frank" }, attrs: {}, parents: [{ type: "Mcp::Group", id: "release-managers" }] },
    { uid: { type: "Mcp::Server", id: "payments" }, attrs: {}, parents: [] },
  );
  writeFileSync(join(policyDir, "entities.json"), JSON.stringify(entities, null, 2));
  writeFileSync(join(policyDir, "refunds.cedar"), `${ALLOW_REFUNDS}\n${REFUND_APPROVAL}\n${NO_REPORT_BOT_REFUNDS}`);
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(policyDir, name), text);
  return { policyDir, schemaDir };
}
