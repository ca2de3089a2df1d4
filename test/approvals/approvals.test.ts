/**
 * Approvals bound to the exact call (issue 14, src/approvals/), in one process over the test
 * database (PGlite, or Postgres with `DATABASE_URL`): the full cycle (pending, the same request
 * again, approve, allowed once, the second use denied); another amount, user, task or a
 * re-pinned tool is another call; approvers must be people of the group, not the call's user;
 * deny; expiry; the chain verifies with the approval records in it; the policy checks at load.
 * Two replicas racing to use one approval: test/e2e/approvals.test.ts.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PolicySetError } from "../../src/policy/issues.js";
import { loadPolicySet } from "../../src/policy/build.js";
import { replay } from "../../src/policy-versions/replay.js";
import { createTestApp, ROOT, type TestApp } from "../helpers/app.js";
import { BIG_REFUND, NO_REPORT_BOT_REFUNDS, PAYMENTS_CATALOG, REFUND_APPROVAL, writeApprovalSet } from "../helpers/approval-set.js";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createTestIssuer } from "../helpers/issuer.js";
import { join } from "node:path";

const set = writeApprovalSet();
const ps = loadPolicySet(set.policyDir, set.schemaDir);

type Obligation = { type: string; id: string; status: string; groups: string[]; expiresAt: string; approvedBy?: string; approvedAt?: string };
type Answer = { decision: string; decisionId: string; reasons: string[]; obligations: Obligation[]; message: string };
type Approval = {
  id: string;
  status: string;
  groups: string[];
  policies: string[];
  call: { agent: string; user: string | null; server: string; tool: string; arguments: unknown; argumentsSha256: string; definitionSha256: string; task: { id: string } | null; delegation: unknown[] };
  decidedBy: string | null;
  comment: string | null;
  usedBy: string | null;
  expiresAt: string;
  requestRecordId: string;
};

let clock = new Date("2026-12-01T12:00:00Z");
let t: TestApp;
const approver: Record<string, string> = {};
beforeAll(async () => {
  t = await createTestApp({ policySet: ps, now: () => clock });
  for (const user of ["erin", "frank", "bob", "alice"]) approver[user] = (await t.apiKeys.create({ name: `approver-${user}`, role: "approver", user })).key;
}, 120_000);
afterAll(async () => {
  await t?.close();
});

async function call(body: Record<string, unknown>): Promise<Answer> {
  const res = await t.request("/v1/mcp/tools/call", { body, key: t.keys.pep });
  expect(res.status, JSON.stringify(await res.clone().json())).toBe(200);
  return (await res.json()) as Answer;
}

async function decide(id: string, verdict: "approve" | "deny", key: string | null | undefined, body?: unknown, headers?: Record<string, string>): Promise<Response> {
  return t.request(`/v1/approvals/${id}/${verdict}`, { method: "POST", key, body, headers });
}

function approvalOf(a: Answer): Obligation {
  const o = a.obligations.find((x) => x.type === "approval");
  expect(o, `an approval obligation in ${JSON.stringify(a)}`).toBeDefined();
  return o!;
}

describe("the full cycle", () => {
  it("pending, the same request again, approve, allowed once, the second use denied", async () => {
    const first = await call(BIG_REFUND);
    expect(first).toMatchObject({ decision: "deny", reasons: ["refunds-over-100-need-approval"] });
    const pending = approvalOf(first);
    expect(pending).toMatchObject({ status: "pending", groups: ["release-managers"] });
    expect(first.message).toContain(pending.id);

    // asking again for the same call: the same request
    const again = await call(BIG_REFUND);
    expect(approvalOf(again).id).toBe(pending.id);

    const shown = (await (await t.request(`/v1/approvals/${pending.id}`, { key: approver.erin })).json()) as Approval;
    expect(shown).toMatchObject({
      status: "pending",
      policies: ["refunds-over-100-need-approval"],
      call: { agent: "incident-bot", user: "alice", server: "payments", tool: "refund", arguments: { order: "o-1", amount: 250 }, task: { id: "REFUND-1" } },
    });
    expect(shown.call.definitionSha256).toBe(ps.tools.get("payments/refund")!.definitionHash);

    const res = await decide(pending.id, "approve", approver.erin, { comment: "customer called" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "approved", decidedBy: "erin", comment: "customer called" });

    const allowed = await call(BIG_REFUND);
    expect(allowed.decision).toBe("allow");
    expect(allowed.reasons).toEqual(["allow-refunds"]);
    expect(approvalOf(allowed)).toMatchObject({ id: pending.id, status: "used", approvedBy: "erin" });
    const record = (await (await t.request(`/v1/decisions/${allowed.decisionId}`)).json()) as { obligations: Obligation[]; decision: string };
    expect(record.decision).toBe("allow");
    expect(record.obligations[0]).toMatchObject({ type: "approval", id: pending.id, approvedBy: "erin" });
    expect(((await (await t.request(`/v1/approvals/${pending.id}`)).json()) as Approval)).toMatchObject({ status: "used", usedBy: allowed.decisionId });

    // used once: the identical call needs a new approval
    const second = await call(BIG_REFUND);
    expect(second.decision).toBe("deny");
    const next = approvalOf(second);
    expect(next.status).toBe("pending");
    expect(next.id).not.toBe(pending.id);
    // and a request may be decided once
    expect((await decide(pending.id, "approve", approver.frank)).status).toBe(409);
  });

  it("covers only the exact call: another amount, user, task or a re-pinned tool is another call", async () => {
    const base = { ...BIG_REFUND, task: { id: "EXACT-1" } };
    const asked = approvalOf(await call(base));
    expect((await decide(asked.id, "approve", approver.erin)).status).toBe(200);
    for (const other of [
      { ...base, arguments: { order: "o-1", amount: 251 } },
      { ...base, user: "bob" },
      { ...base, task: { id: "EXACT-2" } },
      { ...base, agent: "code-assistant" },
    ]) {
      const answer = await call(other);
      expect(answer.decision, JSON.stringify(other)).toBe("deny");
      expect(approvalOf(answer).id).not.toBe(asked.id);
    }
    // a re-pinned tool (its definition changed): the approval binds the old definition
    const repinned = writeApprovalSet({}, { payments: { tools: [{ ...PAYMENTS_CATALOG.tools[0], description: "Refunds an order (v2)" }] } });
    const ps2 = loadPolicySet(repinned.policyDir, repinned.schemaDir);
    expect(ps2.tools.get("payments/refund")!.definitionHash).not.toBe(ps.tools.get("payments/refund")!.definitionHash);
    t.policies.activate(ps2);
    try {
      const answer = await call(base);
      expect(answer.decision).toBe("deny");
      expect(approvalOf(answer).id).not.toBe(asked.id);
    } finally {
      t.policies.activate(ps);
    }
    // the exact call still is
    expect((await call(base)).decision).toBe("allow");
  });

  it("no approval is offered for a forbid without @approval, or a call no permit allows", async () => {
    const bot = await call({ ...BIG_REFUND, agent: "report-bot", task: { id: "BOT-1" } });
    expect(bot.decision).toBe("deny");
    expect(bot.reasons).toContain("no-refunds-for-report-bot");
    expect(bot.obligations).toEqual([]);
    const small = await call({ ...BIG_REFUND, arguments: { order: "o-2", amount: 5 }, task: { id: "SMALL" } });
    expect(small).toMatchObject({ decision: "allow", obligations: [] });
    const noPermit = await call({ agent: "incident-bot", server: "everything", tool: "echo", arguments: { message: "x" } });
    expect(noPermit.obligations).toEqual([]);
  });
});

describe("approvers", () => {
  it("must be people of the group, not the call's user; unknown keys and keys of no person are refused", async () => {
    const asked = approvalOf(await call({ ...BIG_REFUND, user: "frank", task: { id: "WHO-1" } }));
    // bob is an approver, but not a release manager
    const outside = await decide(asked.id, "approve", approver.bob);
    expect(outside.status).toBe(403);
    expect(((await outside.json()) as { error: { message: string } }).error.message).toContain("release-managers");
    // frank is a release manager, but the agent acts for him
    const self = await decide(asked.id, "approve", approver.frank);
    expect(self.status).toBe(403);
    expect(((await self.json()) as { error: { message: string } }).error.message).toContain("may not decide its own approval");
    expect((await decide(asked.id, "approve", "vk_not-a-key")).status).toBe(401);
    expect((await decide(asked.id, "approve", null)).status).toBe(401);
    // an admin key names no person
    expect((await decide(asked.id, "approve", t.keys.admin)).status).toBe(401);
    // roles that may not decide at all
    for (const key of [t.keys.pep, t.keys.auditor, t.keys["policy-admin"]]) expect((await decide(asked.id, "approve", key)).status).toBe(403);
    // none of it decided anything
    expect(((await (await t.request(`/v1/approvals/${asked.id}`)).json()) as Approval).status).toBe("pending");
    expect((await decide(asked.id, "approve", approver.erin)).status).toBe(200);
  });

  it("an approver key is made for one user (the keys API refuses one without, and a user on another role)", async () => {
    const ok = await t.request("/v1/keys", { body: { name: "carol-approves", role: "approver", user: "carol" } });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ role: "approver", user: "carol" });
    expect((await t.request("/v1/keys", { body: { name: "nobody", role: "approver" } })).status).toBe(400);
    expect((await t.request("/v1/keys", { body: { name: "pep-with-user", role: "pep", user: "carol" } })).status).toBe(400);
  });
});

describe("an approver proven by a user token", () => {
  it("decides with a key that names no person and their verified user token; a token of a user outside the group, or a refused one, does not", async () => {
    const dir = mkdtempSync(join(tmpdir(), "verdict-approver-idp-"));
    const idp = await createTestIssuer("https://idp.approvals.test", { file: join(dir, "jwks.json") });
    const app = await createTestApp({
      policySet: ps,
      issuers: [{ issuer: idp.issuer, jwksFile: join(dir, "jwks.json"), audience: "verdict", kind: "user", idClaim: "sub", groupsClaim: "groups", clockToleranceSeconds: 0 }],
    });
    try {
      const res = await app.request("/v1/mcp/tools/call", { body: { ...BIG_REFUND, task: { id: "TOKEN-1" } }, key: app.keys.pep });
      const asked = approvalOf((await res.json()) as Answer);
      const token = (sub: string) => idp.sign({ sub, aud: "verdict" });
      const approve = async (headers: Record<string, string>) =>
        app.request(`/v1/approvals/${asked.id}/approve`, { method: "POST", key: app.keys.admin, headers });
      // bob is no release manager; a token signed by nobody trusted is refused
      expect((await approve({ "X-Verdict-User-Token": await token("bob") })).status).toBe(403);
      expect((await approve({ "X-Verdict-User-Token": "not.a.token" })).status).toBe(401);
      const ok = await approve({ "X-Verdict-User-Token": await token("erin") });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ status: "approved", decidedBy: "erin" });
    } finally {
      await app.close();
      await idp.close();
    }
  });
});

describe("deny and expiry", () => {
  it("a denied request stays denied for the call until it expires; then the call may ask again", async () => {
    const body = { ...BIG_REFUND, task: { id: "DENY-1" } };
    const asked = approvalOf(await call(body));
    const res = await decide(asked.id, "deny", approver.erin, { comment: "no" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "denied", decidedBy: "erin", comment: "no" });
    const again = await call(body);
    expect(again.decision).toBe("deny");
    expect(approvalOf(again)).toMatchObject({ id: asked.id, status: "denied" });
    expect((await decide(asked.id, "approve", approver.frank)).status).toBe(409);
    clock = new Date(clock.getTime() + 901_000);
    const later = approvalOf(await call(body));
    expect(later.status).toBe("pending");
    expect(later.id).not.toBe(asked.id);
  });

  it("a request nobody decided lapses, and so does an approval nobody used", async () => {
    const body = { ...BIG_REFUND, task: { id: "LAPSE-1" } };
    const asked = approvalOf(await call(body));
    clock = new Date(clock.getTime() + 901_000);
    expect(((await (await t.request(`/v1/approvals/${asked.id}`)).json()) as Approval).status).toBe("expired");
    expect((await decide(asked.id, "approve", approver.erin)).status).toBe(409);
    const next = approvalOf(await call(body));
    expect(next.id).not.toBe(asked.id);
    expect((await decide(next.id, "approve", approver.erin)).status).toBe(200);
    clock = new Date(clock.getTime() + 901_000);
    const late = await call(body);
    expect(late.decision).toBe("deny");
    expect(approvalOf(late).id).not.toBe(next.id);
    expect(((await (await t.request(`/v1/approvals/${next.id}`)).json()) as Approval).status).toBe("expired");
  });
});

describe("the record", () => {
  it("requests, approvals and denials are records of the hash chain, and the chain verifies", async () => {
    const kinds = async (kind: string) => ((await (await t.request(`/v1/decisions?kind=${kind}&limit=1000`)).json()) as { decisions: Array<{ obligations: Obligation[] }> }).decisions;
    expect((await kinds("approval/request")).length).toBeGreaterThanOrEqual(5);
    expect((await kinds("approval/approve")).length).toBeGreaterThanOrEqual(3);
    expect((await kinds("approval/deny")).length).toBeGreaterThanOrEqual(1);
    const verify = (await (await t.request("/v1/audit/verify")).json()) as { ok: boolean };
    expect(verify.ok).toBe(true);
    // and /metrics counts them
    const metrics = await (await t.request("/metrics")).text();
    const value = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? NaN);
    expect(value(/^verdict_approval_requests_total (\d+)$/m)).toBeGreaterThanOrEqual(5);
    expect(value(/^verdict_approvals_decided_total\{outcome="approved"\} (\d+)$/m)).toBeGreaterThanOrEqual(3);
    expect(value(/^verdict_approvals_decided_total\{outcome="denied"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^verdict_approvals_used_total (\d+)$/m)).toBeGreaterThanOrEqual(2);
  });

  it("lists requests by status, group, agent, user and task", async () => {
    const list = async (qs: string) => ((await (await t.request(`/v1/approvals?${qs}`, { key: approver.erin })).json()) as { approvals: Approval[] }).approvals;
    expect((await list("task=REFUND-1")).map((a) => a.call.task?.id)).toEqual(["REFUND-1", "REFUND-1"]);
    expect((await list("status=used")).every((a) => a.status === "used")).toBe(true);
    expect((await list("group=release-managers")).length).toBeGreaterThan(3);
    expect(await list("group=sre")).toEqual([]);
    expect((await list("user=frank")).every((a) => a.call.user === "frank")).toBe(true);
    expect((await t.request("/v1/approvals?status=nope", { key: approver.erin })).status).toBe(400);
    expect((await t.request("/v1/approvals", { key: t.keys.pep })).status).toBe(403);
  });

  it("replay of the log against the same set flips nothing: an allow that used an approval stays an allow", async () => {
    const report = await replay(t.db.database.db, ps);
    expect(report.flips).toEqual({ allowToDeny: 0, denyToAllow: 0 });
  });
});

describe("fail closed", () => {
  it("when approvals cannot be read, an approvable call is a 503 (never an allow) and other calls are decided as before", async () => {
    const broken = await createTestApp({ policySet: ps });
    try {
      await broken.db.database.db.execute(sql`DROP TABLE approvals`);
      const res = await broken.request("/v1/mcp/tools/call", { body: BIG_REFUND, key: broken.keys.pep });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string; message: string } }).error.message).toContain("treat this as a deny");
      const small = await broken.request("/v1/mcp/tools/call", { body: { ...BIG_REFUND, arguments: { order: "o-3", amount: 5 } }, key: broken.keys.pep });
      expect(((await small.json()) as Answer).decision).toBe("allow");
    } finally {
      await broken.close();
    }
  });
});

describe("the docs' examples", () => {
  it("are in docs/approvals.md and the README verbatim, as tested here", () => {
    const doc = readFileSync(join(ROOT, "docs", "approvals.md"), "utf8");
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    for (const text of [REFUND_APPROVAL, NO_REPORT_BOT_REFUNDS]) expect(doc).toContain(text);
    expect(readme).toContain(REFUND_APPROVAL);
  });
});

describe("@approval at load", () => {
  const bad = (text: string) => {
    const s = writeApprovalSet();
    writeFileSync(join(s.policyDir, "bad.cedar"), text);
    try {
      loadPolicySet(s.policyDir, s.schemaDir);
    } catch (e) {
      if (e instanceof PolicySetError) return e.issues.map((i) => i.message);
      throw e;
    }
    return [];
  };
  it("is refused on a permit, with a group that is no Mcp::Group, or with none", () => {
    expect(bad(`@id("p") @approval("release-managers") permit (principal, action, resource);`)[0]).toContain('only for a forbid; "p" is a permit');
    expect(bad(`@id("f") @approval("nobody-here") forbid (principal, action, resource);`)[0]).toContain('names group "nobody-here", which is not an Mcp::Group');
    expect(bad(`@id("g") @approval("") forbid (principal, action, resource);`)[0]).toContain("names no group");
  });
});
