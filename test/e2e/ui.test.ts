import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, ROOT } from "../helpers/app.js";
import { createPostgresDatabase, usingPostgres } from "../helpers/db.js";

const ADMIN_KEY = "test-admin-key-0123456789";
const SHOTS = join(ROOT, "test-results", "ui");
let server: RunningServer;
let dropDb: (() => Promise<void>) | undefined;
let browser: Browser;
let page: Page;

async function call(body: unknown): Promise<void> {
  const res = await fetch(`${server.url}/v1/mcp/tools/call`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  let databaseUrl: string | undefined;
  if (usingPostgres) {
    const pg = await createPostgresDatabase();
    databaseUrl = pg.url;
    dropDb = pg.drop;
  }
  const config = loadConfig({
    PORT: "0",
    DATABASE_URL: databaseUrl,
    VERDICT_DATA_DIR: "memory://",
    VERDICT_POLICY_DIR: EXAMPLE_POLICY_DIR,
    VERDICT_SCHEMA_DIR: EXAMPLE_SCHEMA_DIR,
    VERDICT_ADMIN_KEY: ADMIN_KEY,
    VERDICT_LOG_LEVEL: "silent",
  });
  server = await startServer(config);
  for (let i = 0; i < 6; i++) {
    await call({ agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: `/srv/runbooks/${i}.md` }, task: { id: "INC-7" } });
  }
  for (let i = 0; i < 3; i++) {
    await call({ agent: "code-assistant", user: "bob", server: "filesystem", tool: "write_file", arguments: { path: `/etc/cron.d/job${i}`, content: "x" }, task: { id: "T-3" } });
  }
  await call({ agent: "report-bot", server: "memory", tool: "delete_entities", arguments: { entityNames: ["db"] } });
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
  await dropDb?.();
});

const rows = () => page.locator('[data-testid="decision-row"]');

describe("decision explorer (/ui) in Chromium", () => {
  it("takes the auditor's key, lists decisions and draws the charts", async () => {
    await page.goto(`${server.url}/ui`);
    await page.fill('[data-testid="api-key"]', ADMIN_KEY);
    await page.press('[data-testid="api-key"]', "Enter");
    await expect.poll(() => rows().count()).toBe(10);
    expect(await page.evaluate(() => sessionStorage.getItem("verdict.apiKey"))).toBe(ADMIN_KEY);
    // uPlot draws into a canvas; the bar lists name the most denied tool and agent.
    await expect.poll(() => page.locator('[data-testid="chart-time"] canvas').count()).toBeGreaterThan(0);
    expect(await page.textContent('[data-testid="totals"]')).toBe("6 allowed, 4 denied");
    expect(await page.locator('[data-testid="top-tools"] li').first().textContent()).toContain("filesystem/write_file3");
    expect(await page.locator('[data-testid="top-agents"] li').first().textContent()).toContain("code-assistant3");
    await page.screenshot({ path: join(SHOTS, "1-overview.png"), fullPage: true });
  });

  it("filters by decision, agent and argument content", async () => {
    await page.selectOption('select[name="decision"]', "deny");
    await page.fill('input[name="agent"]', "code-assistant");
    await page.fill('input[name="args"]', "path=/etc/cron.d/job1");
    await page.click('[data-testid="search"]');
    await expect.poll(() => rows().count()).toBe(1);
    expect(await rows().first().textContent()).toContain("forbid-writes-outside-sandbox");
    await page.fill('input[name="args"]', "");
    await page.click('[data-testid="search"]');
    await expect.poll(() => rows().count()).toBe(3);
    for (const text of await rows().allTextContents()) expect(text).toMatch(/deny.*code-assistant/);
    expect(await page.textContent('[data-testid="totals"]')).toBe("0 allowed, 3 denied");
    await page.screenshot({ path: join(SHOTS, "2-filtered.png"), fullPage: true });
  });

  it("opens a decision: full request, determining policy text, version and chain status", async () => {
    await rows().first().click();
    const detail = page.locator('[data-testid="detail"]');
    await expect.poll(() => detail.isVisible()).toBe(true);
    expect(await page.textContent('[data-testid="policies"]')).toContain('@id("forbid-writes-outside-sandbox")');
    expect(await page.textContent('[data-testid="chain-status"]')).toMatch(/^intact: hash matches.*covered by a signed chain head/);
    expect(await page.textContent('[data-testid="request"]')).toContain('"Mcp::Agent"');
    expect(await detail.textContent()).toContain(server.policies.get().version);
    await page.screenshot({ path: join(SHOTS, "3-detail.png"), fullPage: true });
  });
});
