/**
 * The approval surface of the wire contract (DESIGN.md "Approvals bound to the exact call",
 * extended; docs/approvals.md): the approval request, its obligation and the decide body are
 * defined in `@verdict/sdk` (gateways wait for approvals) and re-exported here; the list query
 * and page, which the SDK does not call, are defined here.
 */
import { z } from "zod";
import { Approval, ApprovalStatus } from "../../packages/sdk/src/wire.js";

export { Approval, ApprovalDecisionRequest, ApprovalObligation, ApprovalStatus } from "../../packages/sdk/src/wire.js";

/** `GET /v1/approvals` query: filters (AND-ed), newest first, a page size and a cursor. */
export const ApprovalQuery = z.object({
  status: ApprovalStatus.optional(),
  group: z.string().max(256).optional(),
  agent: z.string().max(256).optional(),
  user: z.string().max(256).optional(),
  task: z.string().max(256).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});
export type ApprovalQuery = z.input<typeof ApprovalQuery>;

/** `GET /v1/approvals` answer. */
export const ApprovalPage = z.object({ approvals: z.array(Approval), nextCursor: z.string().nullable() });
export type ApprovalPage = z.infer<typeof ApprovalPage>;
