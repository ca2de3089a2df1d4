/**
 * `verdict approvals`: the approval requests of a running Verdict (DESIGN.md "Approvals bound to
 * the exact call"): `list` (`GET /v1/approvals`), `show <id>` (`GET /v1/approvals/{id}`: the
 * exact call, its arguments included), `approve <id>` and `deny <id>` (`POST
 * /v1/approvals/{id}/approve|deny`, role `approver`: a key created for one person with
 * `verdict keys create --role approver --user <id>`). Through the API only, so the approver's key
 * and its checks (in the group, not their own call) apply as they do in the explorer.
 */
import { Option, type Command } from "commander";
import { ApprovalStatus, type Approval, type ApprovalPage } from "../../contract/approvals.js";
import { api, serverOf, serverOptions, type ServerFlags } from "../client.js";
import { table } from "../output.js";

const FILTERS = ["group", "agent", "user", "task"] as const;

/** `server/tool` of a request. */
const toolOf = (a: Approval) => `${a.call.server}/${a.call.tool}`;

/** The request as people read it: what it binds, why it was asked, where it is. */
function formatApproval(a: Approval): string {
  const c = a.call;
  const rows: Array<[string, string]> = [
    ["status", a.status],
    ["groups", a.groups.join(", ")],
    ["policies", a.policies.join(", ")],
    ["agent", c.agent],
    ["user", c.user ?? "-"],
    ["delegation", c.delegation.length ? c.delegation.map((d) => (d.iss ? `${d.sub} (${d.iss})` : d.sub)).join(" -> ") : "-"],
    ["tool", toolOf(a)],
    ["definition", c.definitionSha256],
    ["task", c.task ? `${c.task.id}${c.task.kind ? ` (${c.task.kind})` : ""}` : "-"],
    ["policy set", a.policySetVersion],
    ["created", a.createdAt],
    ["expires", a.expiresAt],
  ];
  if (a.decidedAt) rows.push([a.status === "denied" ? "denied" : "approved", `${a.decidedAt} by ${a.decidedBy ?? "-"}${a.comment ? `: ${a.comment}` : ""}`]);
  if (a.usedAt) rows.push(["used", `${a.usedAt} by decision ${a.usedBy ?? "-"}`]);
  rows.push(["request record", a.requestRecordId], ["arguments", c.argumentsSha256]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const args = JSON.stringify(c.arguments ?? null, null, 2)
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
  return [`approval ${a.id}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), args].join("\n");
}

/** Registers `verdict approvals list|show|approve|deny` (see the module comment). */
export function registerApprovals(program: Command): void {
  const approvals = program
    .command("approvals")
    .description("List, show, approve and deny the approval requests of a running Verdict (approve and deny need an approver key).");

  const list = approvals
    .command("list")
    .description("List approval requests matching the filters, newest first.")
    .addOption(new Option("--status <status>", "Only requests with this status.").choices(ApprovalStatus.options));
  for (const f of FILTERS) list.option(`--${f} <id>`, f === "group" ? "Only requests a member of this group may decide." : `Only requests whose call's ${f} is this.`);
  serverOptions(
    list
      .option("--limit <n>", "At most this many requests (1 to 500; default 50).")
      .option("--cursor <cursor>", "Continue after the previous page (its last line names the cursor).")
      .option("--json", "Print the page as JSON."),
  ).action(async (opts: ServerFlags & Partial<Record<(typeof FILTERS)[number] | "status" | "limit" | "cursor", string>> & { json?: boolean }) => {
    const q = new URLSearchParams();
    for (const f of ["status", ...FILTERS, "limit", "cursor"] as const) if (opts[f] !== undefined) q.set(f, opts[f]);
    const page = await api<ApprovalPage>(serverOf(opts), "GET", `/v1/approvals${q.toString() ? `?${q}` : ""}`);
    if (opts.json) {
      console.log(JSON.stringify(page, null, 2));
      return;
    }
    if (!page.approvals.length) console.log("no approval requests match");
    else
      console.log(
        table(
          ["ID", "STATUS", "TOOL", "AGENT", "USER", "TASK", "GROUPS", "EXPIRES"],
          page.approvals.map((a) => [a.id, a.status, toolOf(a), a.call.agent, a.call.user ?? "-", a.call.task?.id ?? "-", a.groups.join(","), a.expiresAt]),
        ),
      );
    if (page.nextCursor) console.log(`\nmore: add --cursor ${page.nextCursor}`);
  });

  serverOptions(approvals.command("show <id>").description("Show one request: the exact call it is for, its arguments included.").option("--json", "Print it as JSON.")).action(
    async (id: string, opts: ServerFlags & { json?: boolean }) => {
      const a = await api<Approval>(serverOf(opts), "GET", `/v1/approvals/${encodeURIComponent(id)}`);
      console.log(opts.json ? JSON.stringify(a, null, 2) : formatApproval(a));
    },
  );

  for (const verdict of ["approve", "deny"] as const) {
    serverOptions(
      approvals
        .command(`${verdict} <id>`)
        .description(
          verdict === "approve"
            ? "Approve a pending request: the identical call is then allowed once, until the approval expires."
            : "Deny a pending request: the call stays denied until the request expires.",
        )
        .option("--comment <text>", "Why, kept with the decision in the record."),
    ).action(async (id: string, opts: ServerFlags & { comment?: string }) => {
      const a = await api<Approval>(serverOf(opts), "POST", `/v1/approvals/${encodeURIComponent(id)}/${verdict}`, opts.comment === undefined ? {} : { comment: opts.comment });
      const what = `${toolOf(a)} for ${a.call.agent}${a.call.user ? ` acting for ${a.call.user}` : ""}`;
      console.log(
        verdict === "approve"
          ? `approved ${a.id} (${what}) as ${a.decidedBy}: the identical call is allowed once until ${a.expiresAt}`
          : `denied ${a.id} (${what}) as ${a.decidedBy}`,
      );
    });
  }
}
