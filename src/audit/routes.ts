/**
 * The auditor's integrity endpoints: `GET /v1/audit/verify` (walk every hash chain, name the
 * first broken link) and `GET /v1/audit/decisions/{id}` (one decision with the text of its
 * determining policies and its chain status, for the explorer's detail view).
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppDeps, AppEnv } from "../http/app.js";
import { fromZod, VerdictError } from "../http/errors.js";
import { getDecision } from "../decisions/query.js";
import { decisionChainStatus, verifyChains } from "./verify.js";

const VerifyQuery = z.object({
  stream: z.uuid().optional(),
  brokenOnly: z.enum(["true", "false"]).default("false"),
});

export function auditRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const db = deps.database.db;

  app.get("/v1/audit/verify", async (c) => {
    const q = VerifyQuery.safeParse(c.req.query());
    if (!q.success) throw fromZod(q.error, "query");
    return c.json(await verifyChains(db, { stream: q.data.stream, brokenOnly: q.data.brokenOnly === "true" }));
  });

  app.get("/v1/audit/decisions/:id", async (c) => {
    const id = c.req.param("id");
    if (!z.uuid().safeParse(id).success) throw new VerdictError("bad_request", `decision id ${JSON.stringify(id)} is not a UUID`);
    const record = await getDecision(db, id.toLowerCase());
    if (!record) throw new VerdictError("not_found", `no decision ${id}`);
    const active = deps.policies.peek();
    // Policy texts come from the set in force; `sameVersion` says whether that is the set that decided.
    const policies = record.reasons.map((pid) => {
      const p = active?.policies.get(pid);
      return p ? { id: pid, file: p.file, line: p.line, text: p.text } : { id: pid, file: null, line: null, text: null };
    });
    return c.json({
      decision: record,
      policies,
      policySet: { version: record.policySetVersion, activeVersion: active?.version ?? null, sameVersion: active?.version === record.policySetVersion },
      chain: await decisionChainStatus(db, record),
    });
  });

  return app;
}
