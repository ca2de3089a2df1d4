/**
 * The approval webhook (src/approvals/webhook.ts, `VERDICT_APPROVAL_WEBHOOK_URL`) against a real
 * local HTTP receiver (node:http), fed by the in-process app's approval store: a new request is
 * POSTed once with `text` and `approval`, the same call again posts nothing; 5xx is retried, a
 * 4xx is not; a dead or hanging receiver never changes or slows the decision; the queue bound
 * drops and counts; `close()` is bounded; and `startServer` wires it with its public URL.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ApprovalStore } from "../../src/approvals/store.js";
import { ApprovalWebhook, approvalText, type ApprovalWebhookOptions, type ApprovalWebhookPayload } from "../../src/approvals/webhook.js";
import { loadConfig } from "../../src/config.js";
import type { Approval } from "../../src/contract/approvals.js";
import { loadPolicySet } from "../../src/policy/build.js";
import { startServer } from "../../src/server.js";
import { createTestApp, TEST_ADMIN_KEY, type TestApp } from "../helpers/app.js";
import { BIG_REFUND, writeApprovalSet } from "../helpers/approval-set.js";
import { createPostgresDatabase, usingPostgres } from "../helpers/db.js";

const PUBLIC_URL = "https://verdict.example";
const set = writeApprovalSet();

/** A request the receiver got. */
interface Received {
  headers: IncomingMessage["headers"];
  body: ApprovalWebhookPayload;
}

/** A local webhook receiver; `answer` decides each response (default 200). */
interface Receiver {
  url: string;
  received: Received[];
  answer: (n: number, res: ServerResponse) => void;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const r = { received: [] as Received[], answer: (_n: number, res: ServerResponse) => void res.writeHead(200).end("ok") } as Receiver;
  const server: Server = createServer((req, res) => {
    let data = "";
    req.on("data", (d) => (data += d));
    req.on("end", () => {
      r.received.push({ headers: req.headers, body: JSON.parse(data) as ApprovalWebhookPayload });
      r.answer(r.received.length, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook/T0/secret`;
  r.close = () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return r;
}

/** Waits until `check` holds (polling), or fails after `ms`. */
async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
}

let t: TestApp;
/** The notifier the app's store tells; each test sets its own. */
let hook: ApprovalWebhook | null = null;
let receiver: Receiver;
let task = 0;
const webhooks: ApprovalWebhook[] = [];

/** A notifier to `url` with short waits (the tests' own limits on top). */
function notifier(url: string, opts: Partial<ApprovalWebhookOptions> = {}): ApprovalWebhook {
  const w = new ApprovalWebhook({ url, publicUrl: () => PUBLIC_URL, logger: pino({ level: "silent" }), backoffMs: 10, timeoutMs: 2_000, ...opts });
  webhooks.push(w);
  hook = w;
  return w;
}

/** A refund needing an approval, on a task of its own: a new request each time. */
function refund(): typeof BIG_REFUND {
  return { ...BIG_REFUND, task: { id: `HOOK-${++task}` } };
}

async function call(body: Record<string, unknown>): Promise<{ decision: string; obligations: Array<{ type: string; id: string; status: string }> }> {
  const res = await t.request("/v1/mcp/tools/call", { body, key: t.keys.pep });
  expect(res.status).toBe(200);
  return (await res.json()) as { decision: string; obligations: Array<{ type: string; id: string; status: string }> };
}

beforeAll(async () => {
  t = await createTestApp({
    policySet: loadPolicySet(set.policyDir, set.schemaDir),
    approvals: (db, log) => new ApprovalStore(db, log, { onRequest: (a) => hook?.notify(a) }),
  });
  receiver = await startReceiver();
}, 120_000);
afterEach(async () => {
  await Promise.all(webhooks.splice(0).map((w) => w.close(0)));
  hook = null;
  receiver.received.length = 0;
  receiver.answer = (_n, res) => void res.writeHead(200).end("ok");
});
afterAll(async () => {
  await receiver?.close();
  await t?.close();
  rmSync(join(set.policyDir, ".."), { recursive: true, force: true });
});

describe("a new approval request", () => {
  it("is POSTed once, with text and the approval; the same call asked again posts nothing more", async () => {
    const w = notifier(receiver.url);
    const body = refund();
    const first = await call(body);
    const id = first.obligations.find((o) => o.type === "approval")!.id;
    await until(() => w.stats.sent === 1);
    expect((await call(body)).obligations[0]!.id).toBe(id);
    await until(() => w.pending === 0);
    // nothing more arrives for the same request (a second request would be queued by now)
    await new Promise((r) => setTimeout(r, 50));
    expect(receiver.received).toHaveLength(1);
    const [got] = receiver.received;
    expect(got!.headers["content-type"]).toBe("application/json");
    expect(got!.headers["user-agent"]).toMatch(/^verdict\//);
    expect(got!.body.text).toBe(
      `Approval needed: incident-bot for alice wants payments/refund on task ${body.task.id} (denied by refunds-over-100-need-approval); ` +
        `a member of release-managers may approve: ${PUBLIC_URL}/ui/#approval=${id}`,
    );
    const shown = (await (await t.request(`/v1/approvals/${id}`)).json()) as Approval;
    expect(got!.body.approval).toEqual(shown);
    expect(w.stats).toEqual({ sent: 1, failed: 0, dropped: 0 });
  });

  it("text escapes what the caller chose, so an id cannot mention a channel or make a link", () => {
    const a = { id: "x", groups: ["g"], policies: ["p"], call: { agent: "<!channel>", user: "a&b", server: "s", tool: "t", task: null } } as unknown as Approval;
    expect(approvalText(a, `${PUBLIC_URL}/`)).toBe(`Approval needed: &lt;!channel&gt; for a&amp;b wants s/t (denied by p); a member of g may approve: ${PUBLIC_URL}/ui/#approval=x`);
  });
});

describe("retries", () => {
  it("a receiver answering 500 twice then 200 gets 3 attempts, and it is sent", async () => {
    receiver.answer = (n, res) => void res.writeHead(n <= 2 ? 500 : 200).end();
    const w = notifier(receiver.url);
    await call(refund());
    await until(() => w.stats.sent + w.stats.failed === 1);
    expect(receiver.received).toHaveLength(3);
    expect(new Set(receiver.received.map((r) => r.body.approval.id)).size).toBe(1);
    expect(w.stats).toEqual({ sent: 1, failed: 0, dropped: 0 });
  });

  it("429 is retried; another 4xx is not, and counts as failed", async () => {
    receiver.answer = (n, res) => void res.writeHead(n === 1 ? 429 : 400).end();
    const w = notifier(receiver.url);
    await call(refund());
    await until(() => w.stats.failed === 1);
    expect(receiver.received).toHaveLength(2);
    // gives up after the 400 (no third attempt)
    await new Promise((r) => setTimeout(r, 50));
    expect(receiver.received).toHaveLength(2);
    expect(w.stats).toEqual({ sent: 0, failed: 1, dropped: 0 });
  });

  it("gives up after 3 attempts of a receiver that keeps failing", async () => {
    receiver.answer = (_n, res) => void res.writeHead(503).end();
    const w = notifier(receiver.url);
    await call(refund());
    await until(() => w.stats.failed === 1);
    expect(receiver.received).toHaveLength(3);
  });
});

describe("a receiver that is down or hangs", () => {
  it("a dead URL never changes the decision: deny with the pending approval, promptly; counted as failed", async () => {
    const dead = await startReceiver();
    await dead.close();
    const w = notifier(dead.url, { backoffMs: 500 });
    const answer = await call(refund());
    // answered while the notification is still being retried (1.5 s of waits between attempts)
    expect(w.stats.failed).toBe(0);
    expect(w.pending).toBe(1);
    expect(answer.decision).toBe("deny");
    expect(answer.obligations).toEqual([expect.objectContaining({ type: "approval", status: "pending" })]);
    await until(() => w.stats.failed === 1);
    expect(w.stats).toEqual({ sent: 0, failed: 1, dropped: 0 });
  });

  it("a hanging receiver holds no answer, and close() cuts it after its bounded wait", async () => {
    receiver.answer = () => undefined; // never answers
    const w = notifier(receiver.url, { timeoutMs: 30_000 });
    const started = Date.now();
    const answer = await call(refund());
    expect(answer.decision).toBe("deny");
    expect(Date.now() - started).toBeLessThan(5_000);
    await until(() => receiver.received.length === 1);
    const closing = Date.now();
    await w.close(100);
    expect(Date.now() - closing).toBeLessThan(2_500);
    expect(w.stats).toEqual({ sent: 0, failed: 1, dropped: 0 });
    // closed: a new request is dropped, not sent
    await call(refund());
    expect(w.stats.dropped).toBe(1);
  });

  it("close() stops retrying: no attempt after it", async () => {
    receiver.answer = (_n, res) => void res.writeHead(500).end();
    const w = notifier(receiver.url, { backoffMs: 10_000 });
    await call(refund());
    await until(() => receiver.received.length === 1);
    await until(() => w.pending === 1);
    const closing = Date.now();
    await w.close();
    expect(Date.now() - closing).toBeLessThan(2_500);
    expect(receiver.received).toHaveLength(1);
    expect(w.stats).toEqual({ sent: 0, failed: 1, dropped: 0 });
  });
});

describe("the queue bound", () => {
  it("drops the newest past the bound, counts it, and sends the rest", async () => {
    const held: ServerResponse[] = [];
    receiver.answer = (_n, res) => void held.push(res);
    const w = notifier(receiver.url, { maxPending: 2, concurrency: 1 });
    for (let i = 0; i < 5; i++) expect((await call(refund())).decision).toBe("deny");
    expect(w.stats.dropped).toBe(3);
    expect(w.pending).toBe(2);
    await until(() => held.length === 1);
    held.shift()!.writeHead(200).end();
    await until(() => held.length === 1);
    held.shift()!.writeHead(204).end();
    await until(() => w.stats.sent === 2);
    expect(receiver.received.map((r) => r.body.approval.call.task?.id)).toEqual([`HOOK-${task - 4}`, `HOOK-${task - 3}`]);
    expect(w.stats).toEqual({ sent: 2, failed: 0, dropped: 3 });
  });
});

describe("startServer with VERDICT_APPROVAL_WEBHOOK_URL", () => {
  it("posts each new request with the server's public URL in the link", async () => {
    const dir = mkdtempSync(join(tmpdir(), "verdict-webhook-"));
    let dropDb: (() => Promise<void>) | undefined;
    let dbEnv: Record<string, string> = { VERDICT_DATA_DIR: join(dir, "data") };
    if (usingPostgres) {
      const pg = await createPostgresDatabase();
      dropDb = pg.drop;
      dbEnv = { DATABASE_URL: pg.url };
    }
    const server = await startServer(
      loadConfig({
        PORT: "0",
        ...dbEnv,
        VERDICT_POLICY_DIR: set.policyDir,
        VERDICT_SCHEMA_DIR: set.schemaDir,
        VERDICT_ADMIN_KEY: TEST_ADMIN_KEY,
        VERDICT_LOG_LEVEL: "silent",
        VERDICT_APPROVAL_WEBHOOK_URL: receiver.url,
      }),
    );
    try {
      const res = await fetch(`${server.url}/v1/mcp/tools/call`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_KEY}` },
        body: JSON.stringify(refund()),
      });
      const answer = (await res.json()) as { decision: string; obligations: Array<{ id: string }> };
      expect(answer.decision).toBe("deny");
      await until(() => receiver.received.length === 1);
      expect(receiver.received[0]!.body.text).toMatch(new RegExp(`may approve: ${server.url.replace(/[.]/g, "\\.")}/ui/#approval=${answer.obligations[0]!.id}$`));
    } finally {
      await server.stop();
      await dropDb?.();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
