/**
 * Approvals bound to the exact call (DESIGN.md "Approvals bound to the exact call",
 * docs/approvals.md): the requests a denied call makes, their approval or denial by a person of
 * the group, and the single use of an approval by the identical call.
 *
 * - **The binding** is agent, user, delegation chain, server, tool, the pinned tool definition's
 *   hash, the arguments' hash and the task id ({@link bindingSha256}); a request also keeps the
 *   policy-set version it was made under. A changed argument, user, task or a re-pinned tool is
 *   another binding, so another call.
 * - **Idempotent**: asking again for a call with a pending (or denied) request returns that
 *   request until it expires; a unique index on the pending binding keeps two replicas asking at
 *   once to one request.
 * - **Once**: an approved request is used by one `UPDATE ... WHERE status = 'approved'`, so of
 *   replicas racing to use it exactly one gets the row; it may be used until `expiresAt`
 *   (`VERDICT_APPROVAL_TTL_SECONDS` after the approval). A request lapses the same time after it
 *   was made, if nobody decides it.
 * - **In the hash chain**: each request, approval and denial is a record of the decision log
 *   (`approval/request`, `approval/approve`, `approval/deny`), and the use is the allowed
 *   `tools/call` record, whose `approval` obligation names the approval, who approved it and
 *   when. Each row is changed first and its record appended after; when the record cannot be
 *   committed the change is undone (best effort) and the caller gets an error, never an allow.
 */
import { and, desc, eq, gt, lte, sql, type SQL } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import type { z } from "zod";
import type { Approval, ApprovalObligation, ApprovalQuery, ApprovalStatus } from "../contract/approvals.js";
import { canonicalSha256 } from "../contract/canonical.js";
import type { DelegationActor } from "../contract/decision-log.js";
import { REASONS } from "../contract/reasons.js";
import type { Db } from "../db/client.js";
import { decodeCursor, encodeCursor } from "../db/cursor.js";
import { approvals } from "../db/schema.js";
import type { Masking } from "../decision-log/masking.js";
import { eventRecord, type UnchainedRecord } from "../decision-log/record.js";
import type { DecisionLog } from "../decision-log/writer.js";

/** Default of `VERDICT_APPROVAL_TTL_SECONDS`: how long a request waits, and an approval may be used. */
export const APPROVAL_TTL_SECONDS = 900;

type Row = typeof approvals.$inferSelect;

/** The exact call an approval is for, and why the policies ask for one. */
export interface ApprovalCall {
  agent: string;
  user: string | null;
  delegation: DelegationActor[];
  server: string;
  tool: string;
  /** `sha256:<hex>` of the pinned tool definition. */
  definitionSha256: string;
  arguments: unknown;
  argumentsSha256: string;
  task: { id: string; kind?: string } | null;
  /** The `Mcp::Group` ids whose people may decide it. */
  groups: string[];
  /** The approvable forbids that denied it. */
  policies: string[];
}

/** Who asked, for the records: the calling key and request, the set in force, the time. */
export interface ApprovalMeta {
  now: Date;
  caller: string | null;
  requestId: string | null;
  policySetVersion: string;
}

/** Why an approval could not be decided. */
export class ApprovalError extends Error {
  constructor(
    readonly code: "not_found" | "conflict" | "bad_request",
    message: string,
  ) {
    super(message);
    this.name = "ApprovalError";
  }
}

/** SHA-256 (hex) of the canonical binding of a call (see the module comment). */
export function bindingSha256(c: Pick<ApprovalCall, "agent" | "user" | "delegation" | "server" | "tool" | "definitionSha256" | "argumentsSha256" | "task">): string {
  return canonicalSha256({
    agent: c.agent,
    user: c.user,
    delegation: c.delegation,
    server: c.server,
    tool: c.tool,
    definitionSha256: c.definitionSha256,
    argumentsSha256: c.argumentsSha256,
    task: c.task?.id ?? null,
  });
}

/** The status a row has at `now` (`expired`: pending or approved past its expiry). */
function statusAt(r: Row, now: Date): ApprovalStatus {
  if ((r.status === "pending" || r.status === "approved") && r.expiresAt.getTime() <= now.getTime()) return "expired";
  return r.status as ApprovalStatus;
}

/** A row as the wire shows it. */
export function toApproval(r: Row, now: Date): Approval {
  return {
    id: r.id,
    status: statusAt(r, now),
    groups: r.groups,
    policies: r.policies,
    call: {
      agent: r.agent,
      user: r.userId,
      delegation: r.delegation as DelegationActor[],
      server: r.server,
      tool: r.tool,
      definitionSha256: r.definitionSha256,
      arguments: r.arguments,
      argumentsSha256: r.argumentsSha256,
      task: (r.task as Approval["call"]["task"]) ?? null,
    },
    policySetVersion: r.policySetVersion,
    createdAt: r.createdAt.toISOString(),
    expiresAt: r.expiresAt.toISOString(),
    decidedAt: r.decidedAt?.toISOString() ?? null,
    decidedBy: r.decidedBy,
    comment: r.comment,
    usedAt: r.usedAt?.toISOString() ?? null,
    usedBy: r.usedBy,
    requestRecordId: r.requestRecordId,
  };
}

/** The `approval` obligation of an answer about this approval. */
export function obligationOf(a: Approval): ApprovalObligation {
  return {
    type: "approval",
    id: a.id,
    status: a.status,
    groups: a.groups,
    expiresAt: a.expiresAt,
    ...(a.decidedBy && a.decidedAt && (a.status === "approved" || a.status === "used") ? { approvedBy: a.decidedBy, approvedAt: a.decidedAt } : {}),
  };
}

/** What {@link ApprovalStore.resolve} found for an approvable deny. */
export type Resolution =
  /** An approval of this exact call, now used by the decision `decisionId`: allow once. */
  | { kind: "use"; approval: Approval }
  /** A request (new, pending, or denied by a person): deny, naming it. `created`: made by this call. */
  | { kind: "ask"; approval: Approval; created: boolean };

/** Counters of an {@link ApprovalStore} (this replica), for `/metrics` and tests. */
export interface ApprovalStats {
  /** Requests made (each an `approval/request` record). */
  requested: number;
  /** Requests approved, and denied, through this replica. */
  approved: number;
  denied: number;
  /** Approvals used by an allowed call. */
  used: number;
}

/** The approval requests in the database, and their records in the decision log. */
export class ApprovalStore {
  readonly ttlSeconds: number;
  readonly stats: ApprovalStats = { requested: 0, approved: 0, denied: 0, used: 0 };

  /**
   * @param options.ttlSeconds `VERDICT_APPROVAL_TTL_SECONDS` (default {@link APPROVAL_TTL_SECONDS})
   * @param options.masking masks the arguments of the records and of the stored request alike
   * @param options.onRequest told of each new request (the webhook); never awaited, never fails a decision
   */
  constructor(
    private readonly db: Db,
    private readonly log: DecisionLog,
    private readonly options: { ttlSeconds?: number; masking?: Masking; onRequest?: (a: Approval) => void } = {},
  ) {
    this.ttlSeconds = options.ttlSeconds ?? APPROVAL_TTL_SECONDS;
  }

  /**
   * For a call denied only by approvable forbids: uses an approval of this exact call when there
   * is one (once), else finds or makes its request.
   * @param decisionId the id the call's decision record will have (the approval's `usedBy`)
   * @throws the database's error or a RecordError when the request cannot be stored or recorded
   *   (the caller answers 503: no allow)
   */
  async resolve(call: ApprovalCall, decisionId: string, meta: ApprovalMeta): Promise<Resolution> {
    const binding = bindingSha256(call);
    const now = meta.now;
    // Lapsed requests and approvals of this call are marked so, so that a new request may be made.
    await this.db
      .update(approvals)
      .set({ status: "expired" })
      .where(and(eq(approvals.bindingSha256, binding), sql`${approvals.status} IN ('pending', 'approved')`, lte(approvals.expiresAt, now)));
    // An approval of this exact call: used by this decision, once, whichever replica asks first.
    const [used] = await this.db
      .update(approvals)
      .set({ status: "used", usedAt: now, usedBy: decisionId })
      .where(
        sql`${approvals.id} = (SELECT id FROM approvals WHERE binding_sha256 = ${binding} AND status = 'approved' AND expires_at > ${now.toISOString()}::timestamptz ORDER BY created_at DESC LIMIT 1) AND ${approvals.status} = 'approved'`,
      )
      .returning();
    if (used) {
      this.stats.used++;
      return { kind: "use", approval: toApproval(used, now) };
    }
    const open = await this.openRequest(binding, now);
    if (open) return { kind: "ask", approval: toApproval(open, now), created: false };
    return this.request(call, binding, meta);
  }

  /** The newest pending or denied, unexpired request of a binding. */
  private async openRequest(binding: string, now: Date): Promise<Row | undefined> {
    const [row] = await this.db
      .select()
      .from(approvals)
      .where(and(eq(approvals.bindingSha256, binding), sql`${approvals.status} IN ('pending', 'denied')`, gt(approvals.expiresAt, now)))
      .orderBy(desc(approvals.createdAt))
      .limit(1);
    return row;
  }

  /** Makes the request of a call (or finds the one another replica made at the same moment). */
  private async request(call: ApprovalCall, binding: string, meta: ApprovalMeta): Promise<Resolution> {
    const id = uuidv7();
    const expiresAt = new Date(meta.now.getTime() + this.ttlSeconds * 1000);
    const recordId = uuidv7();
    // The record first built and masked, so the stored request holds what the record holds.
    const draft: Approval = {
      id,
      status: "pending",
      groups: call.groups,
      policies: call.policies,
      call: {
        agent: call.agent,
        user: call.user,
        delegation: call.delegation,
        server: call.server,
        tool: call.tool,
        definitionSha256: call.definitionSha256,
        arguments: call.arguments ?? null,
        argumentsSha256: call.argumentsSha256,
        task: call.task,
      },
      policySetVersion: meta.policySetVersion,
      createdAt: meta.now.toISOString(),
      expiresAt: expiresAt.toISOString(),
      decidedAt: null,
      decidedBy: null,
      comment: null,
      usedAt: null,
      usedBy: null,
      requestRecordId: recordId,
    };
    const record = this.mask(approvalRecord("approval/request", draft, recordId, meta, `approval requested: ${call.policies.join(", ")} may be lifted for this exact call by a person of ${call.groups.join(" or ")}`));
    const [row] = await this.db
      .insert(approvals)
      .values({
        id,
        bindingSha256: binding,
        status: "pending",
        groups: call.groups,
        policies: call.policies,
        agent: call.agent,
        userId: call.user,
        delegation: call.delegation,
        server: call.server,
        tool: call.tool,
        definitionSha256: call.definitionSha256,
        arguments: record.arguments ?? null,
        argumentsSha256: call.argumentsSha256,
        task: call.task,
        taskId: call.task?.id ?? null,
        policySetVersion: meta.policySetVersion,
        createdAt: meta.now,
        expiresAt,
        requestRecordId: recordId,
      })
      .onConflictDoNothing()
      .returning();
    if (!row) {
      // Another replica made the pending request of this binding meanwhile: that one it is.
      const open = await this.openRequest(binding, meta.now);
      if (!open) throw new Error("the approval request could neither be made nor found");
      return { kind: "ask", approval: toApproval(open, meta.now), created: false };
    }
    try {
      await this.log.append(record);
    } catch (e) {
      await this.db.delete(approvals).where(and(eq(approvals.id, id), eq(approvals.status, "pending"))).catch(() => undefined);
      throw e;
    }
    const approval = toApproval(row, meta.now);
    this.stats.requested++;
    try {
      this.options.onRequest?.(approval);
    } catch {
      // a notification never changes a decision
    }
    return { kind: "ask", approval, created: true };
  }

  /**
   * Gives an approval back after the decision that used it could not be recorded (best effort:
   * the call was not allowed, so the approval is still unused).
   */
  async unuse(id: string, decisionId: string): Promise<void> {
    await this.db
      .update(approvals)
      .set({ status: "approved", usedAt: null, usedBy: null })
      .where(and(eq(approvals.id, id), eq(approvals.status, "used"), eq(approvals.usedBy, decisionId)))
      .then(() => void this.stats.used--)
      .catch(() => undefined);
  }

  /** One request, or null. */
  async get(id: string, now: Date): Promise<Approval | null> {
    const [row] = await this.db.select().from(approvals).where(eq(approvals.id, id)).limit(1);
    return row ? toApproval(row, now) : null;
  }

  /**
   * Requests matching every given filter, newest first. `status` is as at `now` (`expired`
   * matches lapsed pending and approved requests; `pending` and `approved` only live ones).
   * @throws ApprovalError `bad_request` for a cursor this server did not issue
   */
  async list(q: z.output<typeof ApprovalQuery>, now: Date): Promise<{ approvals: Approval[]; nextCursor: string | null }> {
    const where: SQL[] = [];
    const at = now.toISOString();
    if (q.status === "expired") where.push(sql`(${approvals.status} = 'expired' OR (${approvals.status} IN ('pending', 'approved') AND ${approvals.expiresAt} <= ${at}::timestamptz))`);
    else if (q.status === "pending" || q.status === "approved") where.push(sql`${approvals.status} = ${q.status} AND ${approvals.expiresAt} > ${at}::timestamptz`);
    else if (q.status) where.push(eq(approvals.status, q.status));
    if (q.group) where.push(sql`${approvals.groups} @> ARRAY[${q.group}]::text[]`);
    if (q.agent) where.push(eq(approvals.agent, q.agent));
    if (q.user) where.push(eq(approvals.userId, q.user));
    if (q.task) where.push(eq(approvals.taskId, q.task));
    if (q.cursor) {
      let t: Date, id: string;
      try {
        [t, id] = decodeCursor(q.cursor);
      } catch (e) {
        throw new ApprovalError("bad_request", (e as Error).message);
      }
      where.push(sql`(${approvals.createdAt}, ${approvals.id}) < (${t.toISOString()}::timestamptz, ${id}::uuid)`);
    }
    const rows = await this.db
      .select()
      .from(approvals)
      .where(where.length ? and(...where) : undefined)
      .orderBy(desc(approvals.createdAt), desc(approvals.id))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    return { approvals: page.map((r) => toApproval(r, now)), nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!.createdAt, page[page.length - 1]!.id) : null };
  }

  /**
   * A person approves or denies a pending request, once. Approved, the identical call is allowed
   * once until `ttlSeconds` from now.
   * @param by the approver (an `Mcp::User` id), checked by the caller to be in a group of the
   *   request and not its user
   * @throws ApprovalError `not_found`; `conflict` when it was decided already or has expired;
   *   the database's error or a RecordError when the decision cannot be stored or recorded (then
   *   it is undone: the request is pending again)
   */
  async decide(id: string, verdict: "approve" | "deny", by: string, comment: string | undefined, meta: ApprovalMeta): Promise<Approval> {
    const now = meta.now;
    const status = verdict === "approve" ? "approved" : "denied";
    const [row] = await this.db
      .update(approvals)
      .set({
        status,
        decidedAt: now,
        decidedBy: by,
        comment: comment ?? null,
        ...(verdict === "approve" ? { expiresAt: new Date(now.getTime() + this.ttlSeconds * 1000) } : {}),
      })
      .where(and(eq(approvals.id, id), eq(approvals.status, "pending"), gt(approvals.expiresAt, now)))
      .returning();
    if (!row) {
      const current = await this.get(id, now);
      if (!current) throw new ApprovalError("not_found", `no approval request ${id}`);
      throw new ApprovalError("conflict", `approval request ${id} is ${current.status}: only a pending request can be ${verdict === "approve" ? "approved" : "denied"}, once`);
    }
    const approval = toApproval(row, now);
    const message = `${verdict === "approve" ? "approved" : "denied"} by ${by}${comment ? `: ${comment}` : ""}`;
    try {
      await this.log.append(this.mask(approvalRecord(verdict === "approve" ? "approval/approve" : "approval/deny", approval, uuidv7(), meta, message)));
    } catch (e) {
      await this.db
        .update(approvals)
        .set({ status: "pending", decidedAt: null, decidedBy: null, comment: null, expiresAt: new Date(row.createdAt.getTime() + this.ttlSeconds * 1000) })
        .where(and(eq(approvals.id, id), eq(approvals.status, status), eq(approvals.decidedBy, by)))
        .catch(() => undefined);
      throw e;
    }
    this.stats[verdict === "approve" ? "approved" : "denied"]++;
    return approval;
  }

  private mask(record: UnchainedRecord): UnchainedRecord {
    return this.options.masking ? this.options.masking.apply(record) : record;
  }
}

/**
 * A record of the decision log for an approval event: the call's agent, user, delegation, tool,
 * arguments and task, the approval in `obligations`; `decision` `deny` for a request and a
 * denial, `allow` for an approval.
 */
export function approvalRecord(
  kind: "approval/request" | "approval/approve" | "approval/deny",
  a: Approval,
  id: string,
  meta: ApprovalMeta,
  message: string,
): UnchainedRecord {
  return eventRecord({
    id,
    time: meta.now.toISOString(),
    kind,
    agent: a.call.agent,
    user: a.call.user,
    delegation: a.call.delegation,
    server: a.call.server,
    tool: a.call.tool,
    action: `Mcp::Action::${JSON.stringify(`${a.call.server}/${a.call.tool}`)}`,
    arguments: a.call.arguments ?? null,
    argumentsSha256: a.call.argumentsSha256,
    task: a.call.task,
    decision: kind === "approval/approve" ? "allow" : "deny",
    reasons: kind === "approval/request" ? a.policies : [kind === "approval/approve" ? REASONS.approvalApproved : REASONS.approvalDenied],
    obligations: [obligationOf(a)],
    message,
    policySetVersion: meta.policySetVersion,
    caller: meta.caller,
    requestId: meta.requestId,
  });
}
