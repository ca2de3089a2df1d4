/**
 * The explorer's task view (issue 13, item 6): a real Verdict over HTTP with the example
 * policies and a trusted user issuer (for a delegation chain), Chromium driving `/ui` with an
 * auditor's key. One task gets an allow with a two-actor `act` chain, a deny by
 * `forbid-writes-outside-sandbox`, an allow whose argument is markup, then an end through the API
 * and a call denied `verdict:task-ended`. Its id, an argument and the end's reason are hostile
 * HTML: the page must show them as text and inject no element.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, ROOT } from "../helpers/app.js";
import { createPostgresDatabase, usingPostgres } from "../helpers/db.js";
import { createTestIssuer, type TestIssuer } from "../helpers/issuer.js";

const ADMIN_KEY = "test-admin-key-0123456789";
const SHOTS = join(ROOT, "test-results", "ui");
const TASK = `deploy-7 <img src=x onerror="window.__xss='task-id'">`;
const HOSTILE_ARG = `/srv/<img src=x onerror="window.__xss='argument'">.md`;
const REASON = `rolled back <b onmouseover="window.__xss='reason'">ok</b>`;
const BULK = "BULK-1";
const OPEN = "INC-9";
const POLL = { timeout: 20_000, interval: 100 };

let server: RunningServer;
let dropDb: (() => Promise<void>) | undefined;
let users: TestIssuer;
let browser: Browser;
let page: Page;
let auditorKey: string;
let pepKey: string;

async function send(path: string, body: unknown, key = ADMIN_KEY): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}
const call = (body: unknown) => send("/v1/mcp/tools/call", body);

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  let databaseUrl: string | undefined;
  if (usingPostgres) {
    const pg = await createPostgresDatabase();
    databaseUrl = pg.url;
    dropDb = pg.drop;
  }
  users = await createTestIssuer("https://idp.acme.test", "http");
  server = await startServer(
    loadConfig({
      PORT: "0",
      DATABASE_URL: databaseUrl,
      VERDICT_DATA_DIR: "memory://",
      VERDICT_POLICY_DIR: EXAMPLE_POLICY_DIR,
      VERDICT_SCHEMA_DIR: EXAMPLE_SCHEMA_DIR,
      VERDICT_ADMIN_KEY: ADMIN_KEY,
      VERDICT_LOG_LEVEL: "silent",
      VERDICT_ISSUERS: JSON.stringify([{ issuer: users.issuer, jwksUrl: users.jwksUrl, audience: "verdict", kind: "user", idClaim: "preferred_username" }]),
    }),
  );
  auditorKey = (await server.apiKeys.create({ name: "ui-task-auditor", role: "auditor" })).key;
  pepKey = (await server.apiKeys.create({ name: "ui-task-pep", role: "pep" })).key;

  // Oldest first: a long task (two pages of the task view), another task, then the hostile one,
  // so the hostile task's records are on the decision list's first page.
  for (let i = 0; i < 52; i += 13) {
    await Promise.all(
      Array.from({ length: Math.min(13, 52 - i) }, (_, j) =>
        call({ agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: `/srv/runbooks/${i + j}.md` }, task: { id: BULK } }),
      ),
    );
  }
  // Ended without a reason; its end record is on the task view's second page.
  await send(`/v1/tasks/${BULK}/end`, undefined);
  await call({ agent: "code-assistant", user: "bob", server: "everything", tool: "echo", arguments: { message: "hi" }, task: { id: OPEN } });

  // The user token was exchanged twice: incident-bot acts now, for an orchestrator that acted first.
  const userToken = await users.sign({ sub: "u-alice", preferred_username: "alice", aud: "verdict", act: { sub: "incident-bot", act: { sub: "orchestrator", iss: "https://orchestrator.acme.test" } } });
  const task = { id: TASK, kind: "incident" };
  const delegated = await call({ agent: "incident-bot", user: "alice", userToken, server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" }, task });
  expect(delegated.decision).toBe("allow");
  const denied = await call({ agent: "code-assistant", user: "bob", server: "filesystem", tool: "write_file", arguments: { path: "/etc/cron.d/job", content: "x" }, task });
  expect(denied).toMatchObject({ decision: "deny", reasons: ["forbid-writes-outside-sandbox"] });
  const hostile = await call({ agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: HOSTILE_ARG }, task });
  expect(hostile.decision).toBe("allow");
  await send(`/v1/tasks/${encodeURIComponent(TASK)}/end`, { reason: REASON }, pepKey);
  // Every replica denies within TASK_END_PROPAGATION_MS; this one at once, but wait it out anyway.
  await new Promise((r) => setTimeout(r, 1_100));
  const afterEnd = await call({ agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" }, task });
  expect(afterEnd).toMatchObject({ decision: "deny", reasons: ["verdict:task-ended"] });
  await server.checkpointer.checkpoint();

  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await users?.close();
  await dropDb?.();
});

const listRows = () => page.locator('[data-testid="decision-row"]');
const taskRows = () => page.locator('[data-testid="task-record"]');
const taskView = () => page.locator('[data-testid="task-view"]');
/** Nothing the records hold became markup: no image anywhere, no bold, no handler ran. */
async function expectNoInjection(): Promise<void> {
  expect(await page.locator("img").count()).toBe(0);
  expect(await page.locator("main b").count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __xss?: string }).__xss)).toBeUndefined();
}

describe("explorer task view (/ui#task=…) in Chromium", () => {
  it("lists the task/end record as 'task ended' and opens the task from its id in the list", async () => {
    await page.goto(`${server.url}/ui`);
    await page.fill('[data-testid="api-key"]', auditorKey);
    await page.press('[data-testid="api-key"]', "Enter");
    await expect.poll(() => listRows().count(), POLL).toBe(50);
    await page.screenshot({ path: join(SHOTS, "6-list-task-end.png"), fullPage: true });
    const endRow = listRows().filter({ hasText: TASK }).filter({ hasText: "task ended" });
    expect(await endRow.count()).toBe(1);
    const endCells = await endRow.locator("td").allTextContents();
    expect(endCells[2]).toBe("—"); // no agent
    expect(endCells[4]).toBe("task ended"); // in place of "/"
    expect(endCells[5]).toBe(TASK);
    expect(endCells[6]).toBe("verdict:task-ended");

    // The newest row is the call after the end; its task id is a link to the task view.
    await listRows().first().locator('[data-testid="task-link"]').click();
    await expect.poll(() => taskView().isVisible(), POLL).toBe(true);
    expect(await page.locator('[data-testid="decisions"]').isVisible()).toBe(false);
    expect(new URLSearchParams(new URL(page.url()).hash.slice(1)).get("task")).toBe(TASK);
    await expect.poll(() => taskRows().count(), POLL).toBe(5);

    expect(await page.textContent('[data-testid="task-title"]')).toBe(TASK);
    expect(await page.textContent('[data-testid="task-kind"]')).toBe("kind incident");
    expect(await page.textContent('[data-testid="task-state"]')).toBe("ended");
    const status = (await page.textContent('[data-testid="task-status"]'))!;
    expect(status).toContain("by apikey:");
    expect(status).toContain("(ui-task-pep)");
    expect(status).toMatch(/ended at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC/);
    expect(await page.textContent('[data-testid="task-end-reason"]')).toBe(`reason: ${REASON}`);
    const summary = await page.locator('[data-testid="task-summary"] dd').allTextContents();
    expect(summary.slice(0, 3)).toEqual(["4", "2", "2"]);

    // Actor chains, earliest first: the delegated one lists its act actors outermost first.
    const actors = page.locator('[data-testid="task-actor"]');
    expect(await actors.count()).toBe(3);
    const delegated = actors.filter({ has: page.locator('[data-testid="delegation"]') });
    expect(await delegated.count()).toBe(1);
    expect(await delegated.locator(".chain").textContent()).toBe("incident-bot ← alice");
    expect(await delegated.locator('[data-testid="delegation"] li').allTextContents()).toEqual(["incident-bot", "orchestrator (https://orchestrator.acme.test)"]);
    expect(await delegated.textContent()).toContain("1 decision: 1 allowed, 0 denied");
    const chains = await actors.locator(".chain").allTextContents();
    expect(chains.sort()).toEqual(["code-assistant ← bob", "incident-bot ← alice", "incident-bot ← alice"]);

    // The timeline, oldest first, the end as its own event.
    expect(await taskRows().evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.kind))).toEqual(["tools/call", "tools/call", "tools/call", "task/end", "tools/call"]);
    const cells = async (i: number) => taskRows().nth(i).locator("td").allTextContents();
    expect((await cells(0)).slice(1)).toEqual(["allow", "incident-bot", "alice", "filesystem/read_file", "allow-file-reads"]);
    expect((await cells(1)).slice(1)).toEqual(["deny", "code-assistant", "bob", "filesystem/write_file", "forbid-writes-outside-sandbox"]);
    expect((await cells(2)).slice(1)).toEqual(["allow", "incident-bot", "alice", "filesystem/read_file", "allow-file-reads"]);
    const end = await cells(3);
    expect(end.slice(1, 5)).toEqual(["ended", "—", "—", "task ended"]);
    expect(end[5]).toBe(`task ended: ${REASON} (by ${status.match(/by (apikey:\S+ \(ui-task-pep\))/)![1]})`);
    expect((await cells(4)).slice(1)).toEqual(["deny", "incident-bot", "alice", "filesystem/read_file", "verdict:task-ended"]);
    const times = await taskRows().evaluateAll((rows) => rows.map((r) => r.children[0]!.textContent!));
    expect([...times].sort()).toEqual(times);
    expect(await page.isVisible('[data-testid="task-more"]')).toBe(false);
    await expectNoInjection();
    await page.screenshot({ path: join(SHOTS, "7-task.png"), fullPage: true });
  });

  it("opens a timeline row in the decision detail; the hostile argument stays text", async () => {
    await taskRows().nth(2).click();
    const detail = page.locator('[data-testid="detail"]');
    await expect.poll(() => detail.isVisible(), POLL).toBe(true);
    await expect.poll(() => page.textContent('[data-testid="request"]'), POLL).toContain("window.__xss='argument'");
    expect(await detail.textContent()).toContain(JSON.stringify({ path: HOSTILE_ARG }));
    expect(await detail.locator('[data-testid="task-link"]').textContent()).toBe(TASK);
    await expectNoInjection();
    await page.screenshot({ path: join(SHOTS, "8-task-detail.png"), fullPage: true });

    // The end event's detail: Verdict's own check, the reason in its message, chain intact.
    await page.click("#close-detail");
    await taskRows().nth(3).click();
    await expect.poll(() => page.textContent('[data-testid="policies"]'), POLL).toContain("Verdict's own check");
    expect(await detail.textContent()).toContain(`task ended: ${REASON}`);
    expect(await page.textContent('[data-testid="chain-status"]')).toMatch(/^intact: hash matches/);
    await expectNoInjection();
    await page.click("#close-detail");
  });

  it("opens a task by its id, pages on with load more, and goes back to the list", async () => {
    await page.fill('[data-testid="task-input"]', OPEN);
    await page.press('[data-testid="task-input"]', "Enter");
    await expect.poll(() => page.textContent('[data-testid="task-title"]'), POLL).toBe(OPEN);
    await expect.poll(() => taskRows().count(), POLL).toBe(1);
    expect(await page.textContent('[data-testid="task-state"]')).toBe("open");
    expect(await page.textContent('[data-testid="task-kind"]')).toBe("no kind");

    await page.fill('[data-testid="task-input"]', BULK);
    await page.press('[data-testid="task-input"]', "Enter");
    await expect.poll(() => page.textContent('[data-testid="task-title"]'), POLL).toBe(BULK);
    await expect.poll(() => taskRows().count(), POLL).toBe(50);
    // The end record is not on this page: its reason is read by its id.
    expect(await page.textContent('[data-testid="task-state"]')).toBe("ended");
    expect(await page.textContent('[data-testid="task-end-reason"]')).toBe("no reason given");
    expect(await page.textContent('[data-testid="task-status"]')).toContain("(VERDICT_ADMIN_KEY)");
    expect((await page.locator('[data-testid="task-summary"] dd').allTextContents()).slice(0, 3)).toEqual(["52", "52", "0"]);
    expect(await page.textContent('[data-testid="task-count"]')).toBe("50 records shown");
    await page.click('[data-testid="task-more"]');
    await expect.poll(() => taskRows().count(), POLL).toBe(53);
    expect(await page.isVisible('[data-testid="task-more"]')).toBe(false);
    const kinds = await taskRows().evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.kind));
    expect(kinds.lastIndexOf("tools/call")).toBe(51);
    expect(kinds[52]).toBe("task/end");
    const ids = await taskRows().evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id!));
    expect(new Set(ids).size).toBe(53);
    await page.screenshot({ path: join(SHOTS, "9-task-load-more.png"), fullPage: true });

    await page.click('[data-testid="to-decisions"]');
    await expect.poll(() => page.locator('[data-testid="decisions"]').isVisible(), POLL).toBe(true);
    expect(await taskView().isVisible()).toBe(false);
    await page.goBack();
    await expect.poll(() => taskView().isVisible(), POLL).toBe(true);
    await expect.poll(() => page.textContent('[data-testid="task-title"]'), POLL).toBe(BULK);
  });

  it("says so when no record names a task, and when the key may not read tasks", async () => {
    const missing = `nope <img src=x onerror="window.__xss='404'">`;
    await page.goto(`${server.url}/ui/#${new URLSearchParams({ task: missing })}`);
    await expect.poll(() => page.textContent('[data-testid="task-error"]'), POLL).toBe(
      `No record names task ${JSON.stringify(missing)}: no decision was made for it and it was not ended.`,
    );
    expect(await page.isVisible('[data-testid="task-records"]')).toBe(false);
    await expectNoInjection();
    await page.screenshot({ path: join(SHOTS, "10-task-not-found.png"), fullPage: true });

    await page.evaluate((k) => sessionStorage.setItem("verdict.apiKey", k), pepKey);
    await page.goto(`${server.url}/ui/#${new URLSearchParams({ task: TASK })}`);
    await expect.poll(() => page.textContent('[data-testid="task-error"]'), POLL).toMatch(/^Task ".*" cannot be shown: .*\(check the API key\)$/);
    expect(await page.textContent('[data-testid="task-error"]')).not.toMatch(/at .*app\.js|Error:/);
    expect(await page.isVisible('[data-testid="task-records"]')).toBe(false);
    await expectNoInjection();
  });
});
