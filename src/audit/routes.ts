/**
 * The auditor's integrity endpoints: `GET /v1/audit/verify` (walk every hash chain, name the
 * first broken link) and `GET /v1/audit/decisions/{id}` (one decision with the text of its
 * determining policies and its chain status, for the explorer's detail view).
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppDeps, AppEnv } from "../http/deps.js";
import { fromZod, VerdictError } from "../http/errors.js";
import { getDecision } from "../decision-log/query.js";
import { decisionChainStatus, verifyChains } from "./verify.js";
import { loadVersion, PolicySetCache, VersionLookupError } from "../policy-versions/store.js";
import type { PolicySet } from "../policy/policy-set.js";

/** `GET /v1/audit/verify` query: one stream only (its id), and whether to list intact streams too. */
export const VerifyQuery = z.object({
  stream: z.uuid().optional(),
  brokenOnly: z.enum(["true", "false"]).default("false"),
});

/** The published policy set of `version`, or null when its sources are not stored (never published). */
async function storedPolicySet(db: AppDeps["database"]["db"], version: string, deps: AppDeps): Promise<PolicySet | null> {
  try {
    return (await loadVersion(db, version, deps.policySetCache ?? new PolicySetCache())).policySet;
  } catch (e) {
    if (e instanceof VersionLookupError) return null;
    throw e;
  }
}

export function auditRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const db = deps.database.db;

  app.get("/v1/audit/verify", async (c) => {
    const q = VerifyQuery.safeParse(c.req.query());
    if (!q.success) throw fromZod(q.error, "query");
    // The configured public keys when there are any, else the database's (docs/tamper-evidence.md).
    return c.json(await verifyChains(db, { stream: q.data.stream, brokenOnly: q.data.brokenOnly === "true", trust: deps.signingKeys.chainTrust() }));
  });

  app.get("/v1/audit/decisions/:id", async (c) => {
    const id = c.req.param("id");
    if (!z.uuid().safeParse(id).success) throw new VerdictError("bad_request", `decision id ${JSON.stringify(id)} is not a UUID`);
    const record = await getDecision(db, id.toLowerCase());
    if (!record) throw new VerdictError("not_found", `no decision ${id}`);
    const active = deps.policies.peek();
    // Policy texts come from the version that decided (issue 11, defect 9): the set served here
    // when it is that version, else its stored sources; never another version's text.
    const deciding = active?.version === record.policySetVersion ? active : await storedPolicySet(db, record.policySetVersion, deps);
    const policies = record.reasons.map((pid) => {
      const p = deciding?.policies.get(pid);
      return p ? { id: pid, file: p.file, line: p.line, text: p.text } : { id: pid, file: null, line: null, text: null };
    });
    return c.json({
      decision: record,
      policies,
      policySet: { version: record.policySetVersion, activeVersion: active?.version ?? null, sameVersion: active?.version === record.policySetVersion },
      chain: await decisionChainStatus(db, record, deps.signingKeys.chainTrust()),
    });
  });

  return app;
}
