/**
 * The explorer's approval pages (issue 14, item 5): a real Verdict over HTTP with the approval
 * set (test/helpers/approval-set.ts: refunds over 100 need a person of `release-managers`) and a
 * trusted user issuer (for a delegation chain), Chromium driving `/ui` with approver keys made
 * through `POST /v1/keys`.
 *
 * The story: `BIG_REFUND` (incident-bot for alice, amount 250, task REFUND-1) is denied with a
 * pending request; erin (a release manager) pastes her key, opens the list, opens the request,
 * sees the exact call and why the policy asks, and approves with a comment; the page says
 * approved by erin, and the identical call through the API is allowed once (a second time it is
 * denied with a new request). bob (outside the group) sees the 403 message on that new request.
 * Another request's argument, task id and comment are hostile HTML: shown as text, no element
 * injected; when frank denies it first, erin's approve gets the 409 message and the page shows
 * frank's denial. An auditor key sees the policy text and, from the decision list, the allowed
 * call's detail linking the approval it used; the admin key (no person) gets the 401; erin denies
 * a request on the page. Screenshots: test-results/ui/11-approvals-list.png to
 * 16-approval-409.png.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { ROOT } from "../helpers/app.js";
import { BIG_REFUND, writeApprovalSet } from "../helpers/approval-set.js";
import { createPostgresDatabase, usingPostgres } from "../helpers/db.js";
import { createTestIssuer, type TestIssuer } from "../helpers/issuer.js";

const ADMIN_KEY = "test-admin-key-0123456789";
const SHOTS = join(ROOT, "test-results", "ui");
const POLL = { timeout: 20_000, interval: 100 };
const HOSTILE_ORDER = `o-2 <img src=x onerror="window.__xss='argument'">`;
const HOSTILE_TASK = `REFUND-2 <img src=x onerror="window.__xss='task'">`;
const HOSTILE_COMMENT = `no <b onmouseover="window.__xss='comment'">way</b>`;
const COMMENT = "customer ticket #4411, refund confirmed with finance";

type Obligation = { type: string; id: string; status: string; groups: string[]; approvedBy?: string };
type Answer = { decision: string; decisionId: string; reasons: string[]; obligations: Obligation[] };
type Approval = { id: string; status: string; decidedBy: string | null; comment: string | null; usedBy: string | null };

let server: RunningServer;
let dropDb: (() => Promise<void>) | undefined;
let users: TestIssuer;
let browser: Browser;
let page: Page;
const keys: Record<string, string> = {};
/** The request of BIG_REFUND, the hostile one (with a delegation chain), one frank denied. */
let bigId: string;
let hostileId: string;
let deniedId: string;
let hostileCall: Record<string, unknown>;
/** The decision that used erin's approval. */
let allowedId: string;

async function send(path: string, body?: unknown, key = ADMIN_KEY): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
async function call(body: unknown): Promise<Answer> {
  const res = await send("/v1/mcp/tools/call", body, keys.pep);
  expect(res.status).toBe(200);
  return (await res.json()) as Answer;
}
function approvalOf(a: Answer): Obligation {
  const o = a.obligations.find((x) => x.type === "approval");
  expect(o, JSON.stringify(a)).toBeDefined();
  return o!;
}
async function getApproval(id: string): Promise<Approval> {
  const res = await send(`/v1/approvals/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Approval;
}
async function createKey(name: string, role: string, user?: string): Promise<string> {
  const res = await send("/v1/keys", { name, role, ...(user ? { user } : {}) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { key: string }).key;
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  let databaseUrl: string | undefined;
  if (usingPostgres) {
    const pg = await createPostgresDatabase();
    databaseUrl = pg.url;
    dropDb = pg.drop;
  }
  const set = writeApprovalSet();
  users = await createTestIssuer("https://idp.acme.test", "http");
  server = await startServer(
    loadConfig({
      PORT: "0",
      DATABASE_URL: databaseUrl,
      VERDICT_DATA_DIR: "memory://",
      VERDICT_POLICY_DIR: set.policyDir,
      VERDICT_SCHEMA_DIR: set.schemaDir,
      VERDICT_ADMIN_KEY: ADMIN_KEY,
      VERDICT_LOG_LEVEL: "silent",
      VERDICT_ISSUERS: JSON.stringify([{ issuer: users.issuer, jwksUrl: users.jwksUrl, audience: "verdict", kind: "user", idClaim: "preferred_username" }]),
    }),
  );
  keys.pep = await createKey("ui-approvals-pep", "pep");
  keys.auditor = await createKey("ui-approvals-auditor", "auditor");
  for (const user of ["erin", "bob", "frank"]) keys[user] = await createKey(user, "approver", user);

  // Oldest first: a request frank denies, then BIG_REFUND's, then the hostile one.
  const small = await call({ ...BIG_REFUND, arguments: { order: "o-0", amount: 120 } });
  deniedId = approvalOf(small).id;
  expect((await send(`/v1/approvals/${deniedId}/deny`, { comment: "duplicate of o-1" }, keys.frank)).status).toBe(200);
  const big = await call(BIG_REFUND);
  expect(big).toMatchObject({ decision: "deny", reasons: ["refunds-over-100-need-approval"] });
  expect(approvalOf(big)).toMatchObject({ status: "pending", groups: ["release-managers"] });
  bigId = approvalOf(big).id;
  // alice's token was exchanged twice: incident-bot acts now, for an orchestrator that acted first.
  const userToken = await users.sign({ sub: "u-alice", preferred_username: "alice", aud: "verdict", act: { sub: "incident-bot", act: { sub: "orchestrator", iss: "https://orchestrator.acme.test" } } });
  hostileCall = { ...BIG_REFUND, userToken, arguments: { order: HOSTILE_ORDER, amount: 500 }, task: { id: HOSTILE_TASK, kind: "refund" } };
  hostileId = approvalOf(await call(hostileCall)).id;

  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await users?.close();
  await dropDb?.();
});

const rows = () => page.locator('[data-testid="approval-row"]');
const view = () => page.locator('[data-testid="approval-view"]');
const text = async (testid: string) => (await page.textContent(`[data-testid="${testid}"]`))?.trim();
/** Pastes a key into the header's form, as a person does (an empty one forgets the key). */
async function useKey(key: string): Promise<void> {
  await page.fill('[data-testid="api-key"]', key);
  await page.press('[data-testid="api-key"]', "Enter");
  await expect.poll(() => page.evaluate(() => sessionStorage.getItem("verdict.apiKey")), POLL).toBe(key || null);
}
/** Opens a request's page by its fragment and waits for it to be shown. */
async function openRequest(id: string): Promise<void> {
  await page.goto(`${server.url}/ui/#${new URLSearchParams({ approval: id })}`);
  await expect.poll(() => text("approval-id"), POLL).toBe(id);
  await expect.poll(() => page.isVisible('[data-testid="approval-call"]'), POLL).toBe(true);
}
/** Nothing the requests hold became markup: no image, no bold, no handler ran. */
async function expectNoInjection(): Promise<void> {
  expect(await page.locator("img").count()).toBe(0);
  expect(await page.locator("main b").count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __xss?: string }).__xss)).toBeUndefined();
}

describe("explorer approvals (/ui#approvals, #approval=…) in Chromium", () => {
  it("an approver pastes her key and lists the pending requests, newest first; the status filter", async () => {
    await page.goto(`${server.url}/ui`);
    await useKey(keys.erin!);
    await page.click('[data-testid="to-approvals"]');
    await expect.poll(() => page.isVisible('[data-testid="approvals-view"]'), POLL).toBe(true);
    expect(new URL(page.url()).hash).toBe("#approvals");
    expect(await page.isVisible('[data-testid="decisions"]')).toBe(false);
    await expect.poll(() => rows().count(), POLL).toBe(2);
    expect(await rows().evaluateAll((r) => r.map((x) => (x as HTMLElement).dataset.id))).toEqual([hostileId, bigId]);
    expect(await rows().evaluateAll((r) => r.map((x) => (x as HTMLElement).dataset.status))).toEqual(["pending", "pending"]);
    const big = (await rows().nth(1).locator("td").allTextContents()).slice(1);
    expect(big.slice(0, 7)).toEqual(["pending", "payments/refund", JSON.stringify(BIG_REFUND.arguments), "incident-bot", "alice", "REFUND-1", "release-managers"]);
    const hostile = await rows().nth(0).locator("td").allTextContents();
    expect(hostile[3]).toBe(JSON.stringify({ order: HOSTILE_ORDER, amount: 500 }));
    expect(hostile[6]).toBe(HOSTILE_TASK);
    expect(await text("approvals-count")).toBe("2 requests shown (pending)");
    await expectNoInjection();
    await page.screenshot({ path: join(SHOTS, "11-approvals-list.png"), fullPage: true });

    await page.selectOption('[data-testid="approval-status-filter"]', "");
    await expect.poll(() => rows().count(), POLL).toBe(3);
    expect(await rows().evaluateAll((r) => r.map((x) => (x as HTMLElement).dataset.status))).toEqual(["pending", "pending", "denied"]);
    await page.selectOption('[data-testid="approval-status-filter"]', "denied");
    await expect.poll(() => rows().count(), POLL).toBe(1);
    expect(await rows().first().getAttribute("data-id")).toBe(deniedId);
    await page.selectOption('[data-testid="approval-status-filter"]', "used");
    await expect.poll(() => text("approvals-count"), POLL).toBe("No used approval request.");
    expect(await rows().count()).toBe(0);
    await page.selectOption('[data-testid="approval-status-filter"]', "pending");
    await expect.poll(() => rows().count(), POLL).toBe(2);
  }, 120_000);

  it("opens a request: the exact call, who may approve and why the policy asks", async () => {
    await rows().nth(1).locator('[data-testid="approval-link"]').click();
    await expect.poll(() => view().isVisible(), POLL).toBe(true);
    expect(new URLSearchParams(new URL(page.url()).hash.slice(1)).get("approval")).toBe(bigId);
    await expect.poll(() => text("approval-id"), POLL).toBe(bigId);
    await expect.poll(() => page.isVisible('[data-testid="approval-call"]'), POLL).toBe(true);
    expect(await page.isVisible('[data-testid="approvals-view"]')).toBe(false);

    expect(await text("approval-status")).toBe("pending");
    expect(await text("approval-status-line")).toMatch(/^pending waiting for a person of release-managers; .* lapses at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC$/);
    expect(await text("approval-tool")).toBe("payments/refund");
    expect(await text("approval-user")).toBe("alice");
    expect(await text("approval-agent")).toBe("incident-bot");
    expect(await text("approval-task")).toBe("REFUND-1");
    expect(await text("approval-delegation-chain")).toMatch(/^none/);
    expect(await page.textContent('[data-testid="approval-arguments"]')).toBe(JSON.stringify({ order: "o-1", amount: 250 }, null, 2));
    expect(await page.textContent('[data-testid="approval-arguments"]')).toContain('"amount": 250');
    expect(await page.locator('[data-testid="approval-group"]').allTextContents()).toEqual(["release-managers"]);
    expect(await page.textContent("#a-who")).toContain("alice, the user the agent acts for, may not decide their own call");
    expect(await page.locator('[data-testid="approval-policy-id"]').allTextContents()).toEqual(["refunds-over-100-need-approval"]);
    // An approver key may not read policy texts: the ids, and a sentence saying so.
    await expect.poll(() => text("approval-policy-notice"), POLL).toContain("this key may not read policy texts");
    expect(await page.locator('[data-testid="approval-policy-text"]').count()).toBe(0);
    expect(await text("approval-version")).toContain(server.policies.get().version);
    expect(await text("approval-created")).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC$/);
    expect(await text("approval-expires")).toMatch(/ UTC$/);
    expect(await text("approval-decided")).toBe("—");
    expect(await page.isVisible('[data-testid="approve"]')).toBe(true);
    expect(await page.isVisible('[data-testid="deny"]')).toBe(true);
    await expectNoInjection();
    await page.screenshot({ path: join(SHOTS, "12-approval-request.png"), fullPage: true });
  }, 120_000);

  it("approves with a comment; the page says approved by erin; the identical call is allowed once", async () => {
    await page.fill('[data-testid="approval-comment-input"]', COMMENT);
    await page.click('[data-testid="approve"]');
    await expect.poll(() => text("approval-status"), POLL).toBe("approved");
    expect(await text("approval-decided-by")).toBe("erin");
    expect(await text("approval-status-line")).toMatch(/^approved by erin at .* UTC; the identical call is allowed once, until .* UTC$/);
    expect(await text("approval-comment-text")).toBe(COMMENT);
    expect(await text("approval-comment")).toBe(`comment by erin: ${COMMENT}`);
    expect(await text("approval-decided")).toMatch(/ UTC by erin$/);
    expect(await text("approval-decided-notice")).toMatch(/^Approved by erin: the identical call is allowed once, until .* UTC\.$/);
    expect(await page.isVisible('[data-testid="approval-decide"]')).toBe(false);
    expect(await page.isVisible('[data-testid="approval-decide-error"]')).toBe(false);
    await page.screenshot({ path: join(SHOTS, "13-approval-approved.png"), fullPage: true });
    expect(await getApproval(bigId)).toMatchObject({ status: "approved", decidedBy: "erin", comment: COMMENT });

    // The identical call, through the API: allowed once, naming the approval; then denied again.
    const allowed = await call(BIG_REFUND);
    expect(allowed.decision).toBe("allow");
    expect(approvalOf(allowed)).toMatchObject({ id: bigId, status: "used", approvedBy: "erin" });
    allowedId = allowed.decisionId;
    const again = await call(BIG_REFUND);
    expect(again).toMatchObject({ decision: "deny", reasons: ["refunds-over-100-need-approval"] });
    expect(approvalOf(again)).toMatchObject({ status: "pending" });
    expect(approvalOf(again).id).not.toBe(bigId);

    await page.reload();
    await expect.poll(() => text("approval-status"), POLL).toBe("used");
    expect(await text("approval-used-by")).toBe(allowed.decisionId);
    expect(await text("approval-decided-by")).toBe("erin");
    expect(await page.isVisible('[data-testid="approval-decide"]')).toBe(false);
  }, 120_000);

  it("an approver outside the group sees the 403 message; the admin key gets the 401; an auditor reads the policy text; erin denies", async () => {
    await page.click('[data-testid="back-to-approvals"]');
    await expect.poll(() => rows().count(), POLL).toBe(2);
    const next = (await rows().evaluateAll((r) => r.map((x) => (x as HTMLElement).dataset.id!))).find((id) => id !== hostileId)!;
    expect(next).not.toBe(bigId);
    await useKey(keys.bob!);
    await openRequest(next);
    expect(await text("approval-status")).toBe("pending");
    await page.fill('[data-testid="approval-comment-input"]', "looks fine");
    await page.click('[data-testid="approve"]');
    await expect.poll(() => text("approval-decide-error"), POLL).toBe(`Not approved: bob is not in Mcp::Group::"release-managers", which this approval needs`);
    expect(await text("approval-status")).toBe("pending");
    expect(await page.isVisible('[data-testid="approve"]')).toBe(true);
    expect(await page.isEnabled('[data-testid="approve"]')).toBe(true);
    await page.screenshot({ path: join(SHOTS, "14-approval-403.png"), fullPage: true });
    expect(await getApproval(next)).toMatchObject({ status: "pending", decidedBy: null });

    // The admin key is no person: 401, with Verdict's reason. An auditor key reads the policy text.
    await useKey(ADMIN_KEY);
    await openRequest(next);
    await page.click('[data-testid="deny"]');
    await expect.poll(() => text("approval-decide-error"), POLL).toMatch(/^Not denied: approvals are decided by people: .* \(paste an approver key created for you\)$/);
    expect(await text("approval-status")).toBe("pending");
    await useKey(keys.auditor!);
    await openRequest(next);
    await expect.poll(() => page.locator('[data-testid="approval-policy-text"]').count(), POLL).toBe(1);
    expect(await text("approval-policy-text")).toBe(
      '@id("refunds-over-100-need-approval")\n@approval("release-managers")\nforbid (principal, action == Mcp::Action::"payments/refund", resource)\nwhen { context.input.amount > 100 };',
    );
    expect(await text("approval-policy-id")).toMatch(/^refunds-over-100-need-approval \(.*refunds\.cedar:\d+\)$/);
    expect(await getApproval(next)).toMatchObject({ status: "pending" });

    // From the decision list: the allowed call's detail links the approval it used.
    await page.click('[data-testid="to-decisions"]');
    const row = page.locator(`[data-testid="decision-row"][data-id="${allowedId}"]`);
    await expect.poll(() => row.count(), POLL).toBe(1);
    await row.locator("td").first().click(); // the row's middle is its task link
    await expect.poll(() => text("detail-approval-link"), POLL).toBe(bigId);
    expect(await page.textContent('[data-testid="detail"]')).toContain(`${bigId} (used, approved by erin)`);
    await page.click('[data-testid="detail-approval-link"]');
    await expect.poll(() => text("approval-id"), POLL).toBe(bigId);
    await expect.poll(() => text("approval-status"), POLL).toBe("used");
    expect(await page.isVisible('[data-testid="detail"]')).toBe(false);

    // erin denies it on the page: the call stays denied, naming the denied request.
    await useKey(keys.erin!);
    await openRequest(next);
    await page.fill('[data-testid="approval-comment-input"]', "not this week");
    await page.click('[data-testid="deny"]');
    await expect.poll(() => text("approval-status"), POLL).toBe("denied");
    expect(await text("approval-decided-by")).toBe("erin");
    expect(await text("approval-comment-text")).toBe("not this week");
    expect(await text("approval-decided-notice")).toBe("Denied by erin: the call stays denied.");
    expect(await page.isVisible('[data-testid="approval-decide"]')).toBe(false);
    const denied = await call(BIG_REFUND);
    expect(denied.decision).toBe("deny");
    expect(approvalOf(denied)).toMatchObject({ id: next, status: "denied" });
  }, 120_000);

  it("shows a hostile request as text; a request decided meanwhile gives the 409 message and its new state", async () => {
    await useKey(keys.erin!);
    await openRequest(hostileId);
    expect(await text("approval-task")).toBe(HOSTILE_TASK);
    expect(await text("approval-task-line")).toBe(`${HOSTILE_TASK} (kind refund)`);
    expect(await page.textContent('[data-testid="approval-arguments"]')).toBe(JSON.stringify({ order: HOSTILE_ORDER, amount: 500 }, null, 2));
    expect(await page.locator('[data-testid="approval-delegation"] li').allTextContents()).toEqual(["incident-bot", "orchestrator (https://orchestrator.acme.test)"]);
    expect(await text("approval-user")).toBe("alice");
    await expectNoInjection();
    await page.screenshot({ path: join(SHOTS, "15-approval-hostile.png"), fullPage: true });

    // frank denies it through the API while erin's page still offers the buttons.
    expect((await send(`/v1/approvals/${hostileId}/deny`, { comment: HOSTILE_COMMENT }, keys.frank)).status).toBe(200);
    await page.click('[data-testid="approve"]');
    await expect.poll(() => text("approval-decide-error"), POLL).toBe(
      `Not approved: approval request ${hostileId} is denied: only a pending request can be approved, once. The page now shows the request as it is.`,
    );
    await expect.poll(() => text("approval-status"), POLL).toBe("denied");
    expect(await text("approval-decided-by")).toBe("frank");
    expect(await text("approval-comment-text")).toBe(HOSTILE_COMMENT);
    expect(await page.isVisible('[data-testid="approval-decide"]')).toBe(false);
    await expectNoInjection();
    await page.screenshot({ path: join(SHOTS, "16-approval-409.png"), fullPage: true });
    // Denied: the same call stays denied, with the same (denied) request.
    const after = await call(hostileCall);
    expect(after.decision).toBe("deny");
    expect(approvalOf(after)).toMatchObject({ id: hostileId, status: "denied" });
  }, 120_000);

  it("says so when there is no such request, and without a key", async () => {
    const missing = "0190f0e0-0000-7000-8000-000000000000";
    await openRequestError(missing, `No approval request ${JSON.stringify(missing)}.`);
    const hostile = `x<img src=x onerror="window.__xss='id'">`;
    await openRequestError(hostile, new RegExp(`^Approval request ${escape(JSON.stringify(hostile))} cannot be shown: approval id .* is not a UUID$`));
    await expectNoInjection();
    await useKey("");
    await page.goto(`${server.url}/ui/#approvals`);
    await expect.poll(() => text("approvals-error"), POLL).toBe("Approval requests cannot be listed: missing API key: send it as Authorization: Bearer <key> (check the API key)");
    expect(await rows().count()).toBe(0);
  }, 120_000);
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
async function openRequestError(id: string, message: string | RegExp): Promise<void> {
  await page.goto(`${server.url}/ui/#${new URLSearchParams({ approval: id })}`);
  await expect.poll(() => text("approval-error"), POLL).toMatch(typeof message === "string" ? new RegExp(`^${escape(message)}$`) : message);
  expect(await page.isVisible('[data-testid="approval-call"]')).toBe(false);
}
