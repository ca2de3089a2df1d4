/**
 * The approval endpoints (DESIGN.md "Approvals bound to the exact call", docs/approvals.md):
 *
 * - `GET /v1/approvals` (roles `approver`, `auditor`, `admin`): requests, newest first, filtered
 *   by `status`, `group`, `agent`, `user`, `task`;
 * - `GET /v1/approvals/{id}` (also `pep`: a gateway waits on the request its call made);
 * - `POST /v1/approvals/{id}/approve` and `/deny`, body `{"comment"?: string}` (role `approver`,
 *   or `admin`): a person decides, once. The approver is the user the `approver` key was created
 *   for, or the user a verified user token proves (`X-Verdict-User-Token`, for a key that names
 *   no user). They must be in a group of the request (per the entity store, or the token's
 *   groups claim), and may not be the user the agent acts for. 401 without a person; 403 for a
 *   person outside the groups or approving their own call; 404 for no such request; 409 for a
 *   request decided already or expired; 503 when the decision cannot be recorded (then it is not
 *   made).
 */
import { Hono, type Context } from "hono";
import { z } from "zod";
import { USER_TOKEN_HEADER } from "../contract/decision.js";
import { ApprovalDecisionRequest, ApprovalQuery, type Approval } from "../contract/approvals.js";
import { RecordError } from "../decision-log/writer.js";
import type { AppDeps, AppEnv } from "../http/deps.js";
import { fromZod, VerdictError } from "../http/errors.js";
import { callerOf } from "../http/key-auth.js";
import { readBody } from "../http/validate.js";
import { ApprovalError, type ApprovalStore } from "./store.js";

/** A person deciding an approval: who, and the groups they are in. */
export interface Approver {
  user: string;
  groups: ReadonlySet<string>;
}

/** The `Mcp::Group` ids a user is in, per the entity store (transitively). */
function storeGroups(deps: AppDeps, user: string): Set<string> {
  const out = new Set<string>();
  for (const e of deps.policies.get().entities.slice([{ type: "Mcp::User", id: user }])) if (e.uid.type === "Mcp::Group") out.add(e.uid.id);
  return out;
}

/**
 * The person making the request: the `approver` key's user, else the user a verified user token
 * proves.
 * @throws VerdictError 401 when the request names no person (or the token is refused)
 */
async function approverOf(deps: AppDeps, c: Context<AppEnv>): Promise<Approver> {
  const key = c.get("apiKey");
  if (key?.user) return { user: key.user, groups: storeGroups(deps, key.user) };
  const token = c.req.header(USER_TOKEN_HEADER);
  if (token && deps.identity) {
    const who = await deps.identity.resolve({ userToken: token });
    if (!who.failure && who.user?.verified) {
      const groups = storeGroups(deps, who.user.id);
      for (const g of who.user.groups) groups.add(g);
      return { user: who.user.id, groups };
    }
    throw new VerdictError("unauthorized", `the user token was refused: ${who.failure?.message ?? "it proves no user"}`);
  }
  throw new VerdictError("unauthorized", `approvals are decided by people: use an approver key created for one user (verdict keys create --role approver --user <id>), or send the approver's verified user token in ${USER_TOKEN_HEADER}`);
}

/**
 * Whether `approver` may decide `a`.
 * @throws VerdictError 403 naming why not
 */
function checkApprover(approver: Approver, a: Approval): void {
  if (a.call.user !== null && approver.user === a.call.user) {
    throw new VerdictError("forbidden", `${approver.user} is the user the agent acts for on this call, and may not decide its own approval`);
  }
  if (!a.groups.some((g) => approver.groups.has(g))) {
    throw new VerdictError("forbidden", `${approver.user} is not in ${a.groups.map((g) => `Mcp::Group::${JSON.stringify(g)}`).join(" or ")}, which this approval needs`);
  }
}

const UUID = z.uuid();

/** The approval routes over `approvals`. */
export function approvalRoutes(deps: AppDeps, approvals: ApprovalStore): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? (() => new Date());

  const idOf = (c: Context<AppEnv>): string => {
    const id = c.req.param("id") ?? "";
    if (!UUID.safeParse(id).success) throw new VerdictError("bad_request", `approval id ${JSON.stringify(id.slice(0, 64))} is not a UUID`);
    return id.toLowerCase();
  };

  app.get("/v1/approvals", async (c) => {
    const parsed = ApprovalQuery.safeParse(c.req.query());
    if (!parsed.success) throw fromZod(parsed.error, "query");
    try {
      return c.json(await approvals.list(parsed.data, now()));
    } catch (e) {
      if (e instanceof ApprovalError) throw new VerdictError("bad_request", e.message);
      throw e;
    }
  });

  app.get("/v1/approvals/:id", async (c) => {
    const a = await approvals.get(idOf(c), now());
    if (!a) throw new VerdictError("not_found", `no approval request ${c.req.param("id")}`);
    return c.json(a);
  });

  for (const verdict of ["approve", "deny"] as const) {
    app.post(`/v1/approvals/:id/${verdict}`, async (c) => {
      const id = idOf(c);
      const body = await readBody(c, ApprovalDecisionRequest, { optional: true });
      const approver = await approverOf(deps, c);
      const at = now();
      const current = await approvals.get(id, at);
      if (!current) throw new VerdictError("not_found", `no approval request ${id}`);
      checkApprover(approver, current);
      const key = c.get("apiKey");
      try {
        const decided = await approvals.decide(id, verdict, approver.user, body.comment || undefined, {
          now: at,
          caller: key ? callerOf(key) : null,
          requestId: c.get("requestId") ?? null,
          policySetVersion: deps.policies.get().version,
        });
        deps.logger.info({ approval: id, verdict, by: approver.user }, `approval ${verdict === "approve" ? "approved" : "denied"}`);
        return c.json(decided);
      } catch (e) {
        if (e instanceof ApprovalError) throw new VerdictError(e.code === "not_found" ? "not_found" : "conflict", e.message);
        if (e instanceof RecordError && e.reason === "refused") throw new VerdictError("unrecordable_input", "the database refused this approval's record; it was not decided", undefined, { cause: e });
        throw new VerdictError("unavailable", "the approval's decision could not be recorded; it was not decided, retry", undefined, { cause: e });
      }
    });
  }

  return app;
}
