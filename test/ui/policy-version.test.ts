/**
 * Defect 9 (issue 11): the explorer's decision detail showed the text of the policy set in force,
 * not of the version that decided (an allow shown beside a policy that forbids it). A real
 * Verdict over HTTP, Chromium driving `/ui` with an auditor's key, and the API the page reads.
 *
 * The story: Verdict starts from the example files (version F, served but not published) and
 * allows a read by `allow-file-reads`. Then version B, in which `allow-file-reads` is a forbid,
 * is published and activated, and the same read is denied. While F's sources are stored nowhere
 * the detail must say so and show no text; once F's sources are published (same content, so the
 * same content-addressed version), the detail shows F's permit and a notice that F is not the
 * version in force.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { readSources, type PolicySetSources } from "../../src/policy/sources.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, ROOT } from "../helpers/app.js";
import { createPostgresDatabase, usingPostgres } from "../helpers/db.js";

const ADMIN_KEY = "test-admin-key-0123456789";
const SHOTS = join(ROOT, "test-results", "ui");
let server: RunningServer;
let dropDb: (() => Promise<void>) | undefined;
let browser: Browser;
let page: Page;
let auditorKey: string;
let pepKey: string;
/** The files' version (F), the permit's text in it, and the forbid-version (B). */
let fileVersion: string;
let fileSources: PolicySetSources;
let permitText: string;
let forbidVersion: string;
let allowedId: string;
let deniedId: string;

const FORBIDDING = (s: string) => s.replace('@id("allow-file-reads")\npermit (', '@id("allow-file-reads")\nforbid (');

async function send(path: string, init: { method?: string; body?: unknown; key?: string } = {}): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: { authorization: `Bearer ${init.key ?? ADMIN_KEY}`, ...(init.body === undefined ? {} : { "content-type": "application/json" }) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

async function readFile(): Promise<{ decision: string; decisionId: string; policySetVersion: string; reasons: string[] }> {
  const res = await send("/v1/mcp/tools/call", { body: { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" } } });
  expect(res.status).toBe(200);
  return res.json();
}

/** What the explorer fetches for a decision's policies. */
const policyTexts = (version: string, ids: string[], key = auditorKey) =>
  send(`/v1/policy-sets/${encodeURIComponent(version)}/policies?${new URLSearchParams(ids.map((i) => ["id", i]))}`, { key });

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  let databaseUrl: string | undefined;
  if (usingPostgres) {
    const pg = await createPostgresDatabase();
    databaseUrl = pg.url;
    dropDb = pg.drop;
  }
  server = await startServer(
    loadConfig({
      PORT: "0",
      DATABASE_URL: databaseUrl,
      VERDICT_DATA_DIR: "memory://",
      VERDICT_POLICY_DIR: EXAMPLE_POLICY_DIR,
      VERDICT_SCHEMA_DIR: EXAMPLE_SCHEMA_DIR,
      VERDICT_ADMIN_KEY: ADMIN_KEY,
      VERDICT_LOG_LEVEL: "silent",
    }),
  );
  auditorKey = (await server.apiKeys.create({ name: "ui-auditor", role: "auditor" })).key;
  pepKey = (await server.apiKeys.create({ name: "ui-pep", role: "pep" })).key;
  fileSources = readSources(EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR);
  fileVersion = server.policies.get().version;
  permitText = server.policies.get().policies.get("allow-file-reads")!.text;
  expect(permitText).toMatch(/^@id\("allow-file-reads"\)\npermit \(/);

  const allowed = await readFile();
  expect(allowed).toMatchObject({ decision: "allow", policySetVersion: fileVersion, reasons: ["allow-file-reads"] });
  allowedId = allowed.decisionId;

  const forbidding = { ...fileSources, policies: { ...fileSources.policies, "reads.cedar": FORBIDDING(fileSources.policies["reads.cedar"]!) } };
  expect(forbidding.policies["reads.cedar"]).not.toBe(fileSources.policies["reads.cedar"]);
  const published = await send("/v1/policy-sets", { body: { sources: forbidding, message: "reads forbidden" } });
  expect(published.status).toBe(201);
  forbidVersion = ((await published.json()) as { version: string }).version;
  expect((await send(`/v1/policy-sets/${forbidVersion}/activate`, { method: "POST" })).status).toBe(200);
  const denied = await readFile();
  expect(denied).toMatchObject({ decision: "deny", policySetVersion: forbidVersion, reasons: ["allow-file-reads"] });
  deniedId = denied.decisionId;
  await server.checkpointer.checkpoint();

  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`${server.url}/ui`);
  await page.fill('[data-testid="api-key"]', auditorKey);
  await page.press('[data-testid="api-key"]', "Enter");
  await page.locator('[data-testid="decision-row"]').nth(1).waitFor({ timeout: 60_000 });
  expect(await page.locator('[data-testid="decision-row"]').count()).toBe(2);
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await dropDb?.();
});

/** Opens the detail of a decision by clicking its row; resolves once its policies are shown. */
async function openDetail(id: string): Promise<{ policies: string; notice: string }> {
  const detail = page.locator('[data-testid="detail"]');
  if (await detail.isVisible()) await page.click("#close-detail");
  await expect.poll(() => detail.isVisible()).toBe(false);
  await page.locator(`[data-testid="decision-row"][data-id="${id}"]`).click();
  // The page reveals the detail only once its policies are rendered.
  await expect.poll(() => detail.isVisible()).toBe(true);
  expect(await page.textContent("#d-id")).toBe(id);
  return { policies: (await page.textContent('[data-testid="policies"]')) ?? "", notice: (await page.textContent("#d-version")) ?? "" };
}

describe("defect 9: the explorer shows the wrong policy text", () => {
  it("serves a version's policy texts to auditors: the served-from-files version while it is served, 404 once it is neither served nor stored", async () => {
    // Before B was active F was served; now it is neither served nor published.
    const gone = await policyTexts(fileVersion, ["allow-file-reads"]);
    expect(gone.status).toBe(404);
    const body = (await gone.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("not_found");
    expect(body.error.message).toContain("are not stored: it was never published");

    const b = await policyTexts(forbidVersion, ["allow-file-reads", "no-such-policy"]);
    expect(b.status).toBe(200);
    expect(await b.json()).toMatchObject({
      version: forbidVersion,
      stored: true,
      active: true,
      serving: true,
      policies: [{ id: "allow-file-reads", file: "policies/reads.cedar", line: 4, template: false, text: FORBIDDING(permitText) }],
      missing: ["no-such-policy"],
    });
    // A prefix of the version works as elsewhere under /v1/policy-sets; a gateway's key does not.
    expect((await policyTexts(forbidVersion.slice(0, 19), ["allow-file-reads"])).status).toBe(200);
    expect((await policyTexts(forbidVersion, ["allow-file-reads"], pepKey)).status).toBe(403);
    const notAVersion = await policyTexts("not-a-version", ["allow-file-reads"]);
    expect(notAVersion.status).toBe(404);
    expect(((await notAVersion.json()) as { error: { message: string } }).error.message).toContain("is not a version");
    expect((await policyTexts(forbidVersion, Array.from({ length: 101 }, (_, i) => `p${i}`))).status).toBe(400);
    // The policy-admin's other routes stay closed to auditors.
    expect((await send(`/v1/policy-sets/${forbidVersion}`, { key: auditorKey })).status).toBe(403);
    expect((await send(`/v1/policy-sets/${forbidVersion}/diff`, { key: auditorKey })).status).toBe(403);
  });

  it("never shows the active version's text for a decision of another version whose sources are not stored", async () => {
    const audit = await send(`/v1/audit/decisions/${allowedId}`, { key: auditorKey });
    expect(audit.status).toBe(200);
    expect(((await audit.json()) as { policies: unknown[] }).policies).toEqual([{ id: "allow-file-reads", file: null, line: null, text: null }]);
    const shown = await openDetail(allowedId);
    expect(shown.policies).not.toContain("forbid (");
    expect(shown.policies).not.toContain("permit (");
    expect(shown.policies).toContain("are not stored: it was never published");
    expect(shown.notice).toContain(`decided by version ${fileVersion} (not the active version, ${forbidVersion})`);
    await page.screenshot({ path: join(SHOTS, "4-version-not-stored.png"), fullPage: true });
  });

  it("shows the deciding version's text and a notice once its sources are published", async () => {
    const republished = await send("/v1/policy-sets", { body: { sources: fileSources, message: "the files, published after the fact" } });
    expect(republished.status).toBe(201);
    expect(((await republished.json()) as { version: string }).version).toBe(fileVersion);
    const f = await policyTexts(fileVersion, ["allow-file-reads"]);
    expect(await f.json()).toMatchObject({ version: fileVersion, stored: true, active: false, serving: false, policies: [{ id: "allow-file-reads", text: permitText }], missing: [] });

    const audit = await send(`/v1/audit/decisions/${allowedId}`, { key: auditorKey });
    const auditBody = (await audit.json()) as { policies: Array<{ id: string; text: string | null }> };
    expect(auditBody.policies.map((p) => [p.id, p.text])).toEqual([["allow-file-reads", permitText]]);
    const allowed = await openDetail(allowedId);
    expect(allowed.policies).not.toContain('@id("allow-file-reads")\nforbid (');
    expect(allowed.policies).toContain(permitText);
    expect(allowed.notice).toContain(`decided by version ${fileVersion} (not the active version`);
    expect(await page.locator('[data-testid="version-notice"]').isVisible()).toBe(true);
    await page.screenshot({ path: join(SHOTS, "5-older-version.png"), fullPage: true });

    const denied = await openDetail(deniedId);
    expect(denied.notice).toBe(`policy set ${forbidVersion} (the one in force)`);
    expect(denied.policies).toContain('@id("allow-file-reads")\nforbid (');
  });
});
