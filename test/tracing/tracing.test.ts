/**
 * Issue 15, item 2: traces. A stand-in OTLP/HTTP receiver (a plain node:http server taking
 * `POST /v1/traces` in OTLP JSON, the encoding `@opentelemetry/exporter-trace-otlp-http` sends)
 * gets one `verdict.decide` span per decision, a child of the caller's `traceparent`; the
 * decision record keeps the trace id. Spans are read after the server stops (its shutdown
 * flushes the batch processor), so no test waits on a timer.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import type { DecisionResponse } from "../../src/contract/decision.js";
import type { DecisionRecord } from "../../src/contract/decision-log.js";
import { TEST_ADMIN_KEY } from "../helpers/app.js";
import { FILESYSTEM_SERVER, GATEWAY_BIN } from "../helpers/mcp.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

/** One span as OTLP JSON carries it (ids in hex), with its attributes flattened. */
interface ReceivedSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  resource: Record<string, string | number | boolean>;
}

type AnyValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number };
type KeyValue = { key: string; value: AnyValue };
const flat = (kvs: KeyValue[] = []) =>
  Object.fromEntries(kvs.map(({ key, value }) => [key, value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.boolValue ?? value.doubleValue!))]));

/** The stand-in receiver: every request it got, and the spans of those that were OTLP trace exports. */
class OtlpReceiver {
  readonly requests: Array<{ method: string; url: string; contentType: string | undefined }> = [];
  readonly spans: ReceivedSpan[] = [];
  private server!: Server;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.requests.push({ method: req.method!, url: req.url!, contentType: req.headers["content-type"] });
        if (req.method === "POST" && req.url === "/v1/traces") {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
            resourceSpans: Array<{ resource: { attributes: KeyValue[] }; scopeSpans: Array<{ spans: Array<Omit<ReceivedSpan, "attributes" | "resource"> & { attributes: KeyValue[] }> }> }>;
          };
          for (const rs of body.resourceSpans)
            for (const ss of rs.scopeSpans)
              for (const s of ss.spans) this.spans.push({ ...s, attributes: flat(s.attributes), resource: flat(rs.resource.attributes) });
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/traces`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A fresh W3C traceparent: version 00, a random trace id and parent span id, sampled. */
function traceparent(): { header: string; traceId: string; spanId: string } {
  const hex = (bytes: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
  const traceId = hex(16);
  const spanId = hex(8);
  return { header: `00-${traceId}-${spanId}-01`, traceId, spanId };
}

async function post<T>(v: TestVerdict, path: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(v.url + path, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as T;
}

async function get<T>(v: TestVerdict, path: string): Promise<T> {
  const res = await fetch(v.url + path, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

const ALLOWED = { agent: "incident-bot", user: "alice", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" }, task: { id: "INC-1234", kind: "incident" } };
const DENIED = { agent: "code-assistant", server: "filesystem", tool: "delete_file", arguments: { path: "/srv/app" } };
/** The tools/list example of docs/api.md: echo visible; get-env forbidden, get-sum not as pinned. */
const LIST = {
  agent: "code-assistant",
  server: "everything",
  tools: [
    {
      name: "echo",
      description: "Echoes back the input string",
      inputSchema: { type: "object", properties: { message: { type: "string", description: "Message to echo" } }, required: ["message"], $schema: "http://json-schema.org/draft-07/schema#" },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    {
      name: "get-env",
      description: "Returns all environment variables, helpful for debugging MCP server configuration",
      inputSchema: { type: "object", properties: {}, $schema: "http://json-schema.org/draft-07/schema#" },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    { name: "get-sum", description: "Returns the sum of two numbers, and more", inputSchema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } } } },
  ],
};
const SESSION = { requestTime: 1_772_445_600, hourUtc: 10, weekdayUtc: 1 };

describe("configuration: OpenTelemetry's variables", () => {
  it("takes the traces endpoint as given, or the base endpoint plus /v1/traces; none, or OTEL_SDK_DISABLED, is off", () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }).otlpTracesUrl).toBe("http://collector:4318/v1/traces");
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://t.example/otlp/spans" }).otlpTracesUrl).toBe(
      "https://t.example/otlp/spans",
    );
    expect(loadConfig({}).otlpTracesUrl).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "" }).otlpTracesUrl).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" }).otlpTracesUrl).toBeUndefined();
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });
});

describe("tracing on: a verdict.decide span per decision, joined to the caller's trace", () => {
  const receiver = new OtlpReceiver();
  let v: TestVerdict;
  const caller = traceparent();
  let allowed: DecisionResponse;
  let denied: DecisionResponse;
  let batch: { results: DecisionResponse[] };
  let untraced: DecisionResponse;
  let records: DecisionRecord[];

  beforeAll(async () => {
    await receiver.start();
    v = await startTestVerdict({ otlpTracesUrl: receiver.url });
    const headers = { traceparent: caller.header, tracestate: "vendor=opaque" };
    allowed = await post(v, "/v1/mcp/tools/call", ALLOWED, headers);
    denied = await post(v, "/v1/mcp/tools/call", DENIED, headers);
    await post(v, "/v1/mcp/tools/list", LIST, headers);
    batch = await post(v, "/v1/authorize/batch", {
      requests: [
        { principal: { type: "Mcp::Agent", id: "code-assistant" }, action: { type: "Mcp::Action", id: "everything/echo" }, resource: { type: "Mcp::Server", id: "everything" }, context: { input: { message: "hi" }, session: SESSION } },
        { principal: { type: "Mcp::Agent", id: "code-assistant" }, action: { type: "Mcp::Action", id: "everything/get-env" }, resource: { type: "Mcp::Server", id: "everything" }, context: { input: {}, session: SESSION } },
      ],
    }, headers);
    untraced = await post(v, "/v1/mcp/tools/call", ALLOWED);
    records = await Promise.all([allowed, denied, ...batch.results, untraced].map((a) => get<DecisionRecord>(v, `/v1/decisions/${a.decisionId}`)));
    await v.stop(); // flushes the batch span processor
  }, 60_000);

  afterAll(async () => {
    await v?.dispose();
    await receiver.stop();
  });

  it("exports OTLP JSON to POST /v1/traces, resource service.name verdict", () => {
    expect(receiver.requests.length).toBeGreaterThan(0);
    for (const r of receiver.requests) expect(r).toEqual({ method: "POST", url: "/v1/traces", contentType: "application/json" });
    for (const s of receiver.spans) expect(s.resource["service.name"]).toBe("verdict");
  });

  it("one span per decision: 2 calls, 1 list, 2 authorize, 1 untraced call", () => {
    expect(receiver.spans.map((s) => s.name)).toEqual(Array(6).fill("verdict.decide"));
  });

  it("a tools/call span is a SERVER child of the caller's traceparent, with the decision's attributes", () => {
    for (const answer of [allowed, denied]) {
      const span = receiver.spans.find((s) => s.attributes["verdict.decision_id"] === answer.decisionId)!;
      expect(span.traceId).toBe(caller.traceId);
      expect(span.parentSpanId).toBe(caller.spanId);
      expect(span.kind).toBe(2); // SPAN_KIND_SERVER
      const call = answer === allowed ? ALLOWED : DENIED;
      expect(span.attributes).toEqual({
        "mcp.method.name": "tools/call",
        "gen_ai.tool.name": call.tool,
        "verdict.kind": "tools/call",
        "verdict.agent": call.agent,
        "verdict.server": "filesystem",
        "verdict.decision": answer.decision,
        "verdict.decision_id": answer.decisionId,
        "verdict.policy_set_version": answer.policySetVersion,
      });
    }
    expect([allowed.decision, denied.decision]).toEqual(["allow", "deny"]);
  });

  it("never puts arguments, users or tasks on a span", () => {
    const text = JSON.stringify(receiver.spans);
    for (const secret of ["/srv/runbooks/db.md", "/srv/app", "alice", "INC-1234"]) expect(text).not.toContain(secret);
  });

  it("a tools/list span counts the visible and hidden tools (a list is not recorded: no decision id)", () => {
    const span = receiver.spans.find((s) => s.attributes["mcp.method.name"] === "tools/list")!;
    expect(span.traceId).toBe(caller.traceId);
    expect(span.parentSpanId).toBe(caller.spanId);
    expect(span.attributes).toMatchObject({ "verdict.kind": "tools/list", "verdict.agent": "code-assistant", "verdict.server": "everything", "verdict.tools.visible": 1, "verdict.tools.hidden": 2 });
    expect(span.attributes["verdict.decision_id"]).toBeUndefined();
  });

  it("each authorize of a batch has its own span, kind authorize, no MCP attributes", () => {
    for (const answer of batch.results) {
      const span = receiver.spans.find((s) => s.attributes["verdict.decision_id"] === answer.decisionId)!;
      expect(span.traceId).toBe(caller.traceId);
      expect(span.attributes["verdict.kind"]).toBe("authorize");
      expect(span.attributes["verdict.decision"]).toBe(answer.decision);
      expect(span.attributes["mcp.method.name"]).toBeUndefined();
      expect(span.attributes["gen_ai.tool.name"]).toBeUndefined();
    }
    expect(batch.results.map((r) => r.decision)).toEqual(["allow", "deny"]);
  });

  it("a decision without traceparent starts a trace of its own (a root span)", () => {
    const span = receiver.spans.find((s) => s.attributes["verdict.decision_id"] === untraced.decisionId)!;
    expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(span.traceId).not.toBe(caller.traceId);
    expect(span.parentSpanId ?? "").toBe("");
  });

  it("the decision record keeps the span's trace id", () => {
    expect(records.map((r) => r.traceId)).toEqual([caller.traceId, caller.traceId, caller.traceId, caller.traceId, receiver.spans.find((s) => s.attributes["verdict.decision_id"] === untraced.decisionId)!.traceId]);
    expect(records.map((r) => r.id)).toEqual([allowed, denied, ...batch.results, untraced].map((a) => a.decisionId));
  });
});

describe("tracing on, searching by trace id", () => {
  const receiver = new OtlpReceiver();
  let v: TestVerdict;

  beforeAll(async () => {
    await receiver.start();
    v = await startTestVerdict({ otlpTracesUrl: receiver.url });
  }, 60_000);

  afterAll(async () => {
    await v?.dispose();
    await receiver.stop();
  });

  it("GET /v1/decisions?traceId= lists exactly that trace's decisions, newest first", async () => {
    const a = traceparent();
    const b = traceparent();
    const first = await post<DecisionResponse>(v, "/v1/mcp/tools/call", ALLOWED, { traceparent: a.header });
    await post<DecisionResponse>(v, "/v1/mcp/tools/call", ALLOWED, { traceparent: b.header });
    const second = await post<DecisionResponse>(v, "/v1/mcp/tools/call", DENIED, { traceparent: a.header });
    const page = await get<{ decisions: DecisionRecord[] }>(v, `/v1/decisions?traceId=${a.traceId}`);
    expect(page.decisions.map((d) => d.id)).toEqual([second.decisionId, first.decisionId]);
    expect(page.decisions.map((d) => d.traceId)).toEqual([a.traceId, a.traceId]);
  });

  it("the audit verifier accepts records with and without a trace id (both hashed as written)", async () => {
    await post<DecisionResponse>(v, "/v1/mcp/tools/call", ALLOWED);
    const report = await get<{ ok: boolean }>(v, "/v1/audit/verify");
    expect(report.ok).toBe(true);
  });
});

describe("tracing off (no endpoint): no export, decisions as before", () => {
  const receiver = new OtlpReceiver();
  let v: TestVerdict;

  beforeAll(async () => {
    await receiver.start();
    v = await startTestVerdict(); // the receiver listens, but Verdict is not told about it
  }, 60_000);

  afterAll(async () => {
    await v?.dispose();
    await receiver.stop();
  });

  it("answers, records the caller's trace id (for the auditor), and sends nothing to a receiver", async () => {
    const caller = traceparent();
    const traced = await post<DecisionResponse>(v, "/v1/mcp/tools/call", ALLOWED, { traceparent: caller.header });
    const plain = await post<DecisionResponse>(v, "/v1/mcp/tools/call", DENIED);
    const malformed = await post<DecisionResponse>(v, "/v1/mcp/tools/call", DENIED, { traceparent: "00-not-a-trace-01" });
    expect([traced.decision, plain.decision, malformed.decision]).toEqual(["allow", "deny", "deny"]);
    expect((await get<DecisionRecord>(v, `/v1/decisions/${traced.decisionId}`)).traceId).toBe(caller.traceId);
    expect((await get<DecisionRecord>(v, `/v1/decisions/${plain.decisionId}`)).traceId).toBeNull();
    expect((await get<DecisionRecord>(v, `/v1/decisions/${malformed.decisionId}`)).traceId).toBeNull();
    await v.stop();
    expect(receiver.requests).toEqual([]);
  });
});

describe("tracing on, receiver down: decisions still answer", () => {
  let v: TestVerdict;
  let closedUrl: string;

  beforeAll(async () => {
    // A port that was just bound and released: nothing listens there.
    const probe = new OtlpReceiver();
    await probe.start();
    closedUrl = probe.url;
    await probe.stop();
    v = await startTestVerdict({ otlpTracesUrl: closedUrl });
  }, 60_000);

  afterAll(async () => {
    await v?.dispose();
  });

  it("every decision is answered and recorded with its trace id; stopping the server completes", async () => {
    const caller = traceparent();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => post<DecisionResponse>(v, "/v1/mcp/tools/call", i % 2 ? DENIED : ALLOWED, { traceparent: caller.header })));
    expect(answers.map((a) => a.decision)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 ? "deny" : "allow")));
    expect((await get<DecisionRecord>(v, `/v1/decisions/${answers[7]!.decisionId}`)).traceId).toBe(caller.traceId);
    await v.stop();
  }, 60_000);
});

describe("through verdict-mcp: params._meta.traceparent becomes Verdict's parent", () => {
  const receiver = new OtlpReceiver();
  let v: TestVerdict;
  let client: Client;
  let sandbox: string;
  const caller = traceparent();
  const listCaller = traceparent();
  let callDecisionId: string | undefined;

  beforeAll(async () => {
    await receiver.start();
    v = await startTestVerdict({ otlpTracesUrl: receiver.url });
    mkdirSync("/tmp/verdict-sandbox", { recursive: true });
    sandbox = mkdtempSync(join("/tmp/verdict-sandbox", "trace-"));
    writeFileSync(join(sandbox, "notes.md"), "# runbook\n");
    client = new Client({ name: "traced-agent", version: "1.0.0" });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [GATEWAY_BIN, "--server", "filesystem", "--agent", "code-assistant", "--verdict-url", v.url, "--log-level", "warn", "--", process.execPath, FILESYSTEM_SERVER, sandbox],
        env: { PATH: process.env.PATH ?? "", VERDICT_API_KEY: TEST_ADMIN_KEY },
        stderr: "inherit",
      }),
    );
    await client.listTools({ _meta: { traceparent: listCaller.header } });
    const result = await client.callTool({ name: "read_text_file", arguments: { path: join(sandbox, "notes.md") }, _meta: { traceparent: caller.header } });
    expect(result.content).toEqual([{ type: "text", text: "# runbook\n" }]);
    await client.close();
    const page = await get<{ decisions: DecisionRecord[] }>(v, `/v1/decisions?traceId=${caller.traceId}`);
    callDecisionId = page.decisions[0]?.id;
    await v.stop();
  }, 60_000);

  afterAll(async () => {
    await v?.dispose();
    await receiver.stop();
    rmSync(sandbox, { recursive: true, force: true });
  });

  it("the tools/call span has the traceparent's trace id and parent, and names the recorded decision", () => {
    const spans = receiver.spans.filter((s) => s.attributes["mcp.method.name"] === "tools/call");
    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({ traceId: caller.traceId, parentSpanId: caller.spanId });
    expect(spans[0]!.attributes).toMatchObject({ "gen_ai.tool.name": "read_text_file", "verdict.decision": "allow", "verdict.server": "filesystem", "verdict.agent": "code-assistant" });
    expect(callDecisionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(spans[0]!.attributes["verdict.decision_id"]).toBe(callDecisionId);
  });

  it("the tools/list span joins the list request's trace", () => {
    const spans = receiver.spans.filter((s) => s.attributes["mcp.method.name"] === "tools/list");
    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({ traceId: listCaller.traceId, parentSpanId: listCaller.spanId });
  });
});
