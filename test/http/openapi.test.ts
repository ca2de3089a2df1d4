/**
 * `GET /openapi.json` (issue 15, item 4): the document validates as OpenAPI 3.1, describes every
 * route the app serves and no other (hono's `app.routes` against the document's paths and
 * methods, both ways), says what the middleware enforces about keys, and fits the README and
 * `docs/*.md`: each curl example's body validates against the request schema of its method and
 * path, and each documented answer against the response schema of its documented status. Real answers of the
 * running app are validated against the document too, since response schemas are not what the
 * server validates its answers with.
 */
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPERATIONS, openApiPath } from "../../src/http/openapi.js";
import { readSources } from "../../src/policy/sources.js";
import { createTestApp, EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, type TestApp } from "../helpers/app.js";
import { readmeExamples } from "../helpers/readme.js";

type Json = Record<string, any>;

let t: TestApp;
let doc: Json;
beforeAll(async () => {
  t = await createTestApp();
  const res = await t.request("/openapi.json", { key: null });
  expect(res.status).toBe(200);
  doc = await res.json();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

/** `METHOD /openapi/{path}` of every route the app serves (hono's `ALL /*` middleware left out). */
function appRoutes(): string[] {
  const ids = t.app.routes.filter((r) => !(r.method === "ALL" && r.path === "/*")).map((r) => `${r.method} ${openApiPath(r.path)}`);
  return [...new Set(ids)].sort();
}

/** `METHOD path` of every operation of the document. */
function documentedRoutes(): string[] {
  return Object.entries(doc.paths as Record<string, Json>)
    .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
const compiled = new Map<unknown, ValidateFunction>();

/** The document's schemas with `#/components/...` references replaced by what they name. */
function deref(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(deref);
  if (node === null || typeof node !== "object") return node;
  const ref = (node as Json).$ref;
  if (typeof ref === "string" && ref.startsWith("#/")) {
    return deref(ref.slice(2).split("/").reduce((n: Json, k) => n[k], doc));
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, deref(v)]));
}

/** Validates `value` against a JSON Schema of the document; the errors as `path message` lines. */
function check(schema: unknown, value: unknown): string[] {
  let validate = compiled.get(schema);
  if (!validate) compiled.set(schema, (validate = ajv.compile(deref(schema) as Json)));
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`);
}

/** The operation of the document that serves `method path` (a literal path before a templated one). */
function operationFor(method: string, path: string): Json | undefined {
  const candidates = Object.keys(doc.paths)
    // `{path}` is hono's `*`: any rest of the path, empty included (`/ui/` is the page).
    .filter((p) => new RegExp(`^${p.replace("{path}", ".*").replace(/\{[^}]+\}/g, "[^/]+")}$`).test(path))
    .sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
  return candidates.length ? doc.paths[candidates[0]!][method.toLowerCase()] : undefined;
}

/** One curl command of an example: method, URL path, query names and `-d` body. */
interface Curl {
  method: string;
  path: string;
  query: string[];
  /** Header names given with `-H`, lower case. */
  headers: string[];
  body?: string;
}

/** The text of each curl command of a shell script: from `curl` to the first unquoted end of command. */
function curlCommands(script: string): string[] {
  const out: string[] = [];
  const text = script.replace(/\\\n/g, " ");
  for (const m of text.matchAll(/\bcurl\b/g)) {
    let quote: string | null = null;
    let i = m.index + 4;
    for (; i < text.length; i++) {
      const ch = text[i]!;
      if (quote) {
        if (ch === quote) quote = null;
      } else if (ch === "'" || ch === '"') quote = ch;
      else if ("\n|;)".includes(ch)) break;
    }
    out.push(text.slice(m.index + 4, i));
  }
  return out;
}

/** The curl commands of a documented shell block, in order. */
function curls(script: string): Curl[] {
  return curlCommands(script).map((args) => {
    const url = new URL(/https?:\/\/127\.0\.0\.1:8700[^\s'"]*/.exec(args)![0]);
    const body = /(?:-d|--data(?:-raw)?)\s+'([^']*)'/.exec(args)?.[1];
    const method = /-X\s+([A-Z]+)/.exec(args)?.[1] ?? (body === undefined ? "GET" : "POST");
    const headers = [...args.matchAll(/-H\s+(['"])([^:'"]+):/g)].map((h) => h[2]!.trim().toLowerCase());
    return { method, path: url.pathname, query: [...url.searchParams.keys()], headers, body };
  });
}

describe("GET /openapi.json", () => {
  it("is a valid OpenAPI 3.1 document, served without a key", async () => {
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe("3.1.1");
    expect(doc.jsonSchemaDialect).toBe("https://json-schema.org/draft/2020-12/schema");
  });

  it("describes every route the app serves, and no route it does not", () => {
    const served = appRoutes();
    const documented = documentedRoutes();
    expect(served.filter((r) => !documented.includes(r)), "served but not in the document (add a row to OPERATIONS)").toEqual([]);
    expect(documented.filter((r) => !served.includes(r)), "in the document but not served").toEqual([]);
    expect(documented.length).toBe(OPERATIONS.length);
  });

  it("gives every operation its answers, the error shape and the roles the middleware admits", () => {
    const problems: string[] = [];
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
      for (const [method, op] of Object.entries(item as Record<string, Json>)) {
        const id = `${method.toUpperCase()} ${path}`;
        const statuses = Object.keys(op.responses);
        if (!statuses.some((s) => s.startsWith("2") || s.startsWith("3"))) problems.push(`${id}: no success answer`);
        const open = op.security.length === 0 || op.security.some((s: Json) => Object.keys(s).length === 0);
        if (!open && !(statuses.includes("401") && statuses.includes("403"))) problems.push(`${id}: needs a key but lists no 401/403`);
        if (method === "post" && !statuses.includes("413")) problems.push(`${id}: a POST without 413`);
        for (const s of statuses.filter((s) => Number(s) >= 400)) {
          // `/readyz` answers its own body with 503 (not ready); every other 4xx/5xx is the error shape.
          if (op.responses[s].$ref !== `#/components/responses/Error${s}` && !(id === "GET /readyz" && s === "503")) problems.push(`${id}: ${s} is not the error shape`);
        }
      }
    }
    expect(problems).toEqual([]);
    // The error shape itself, as every non-2xx body carries it.
    expect(check(doc.components.schemas.Error, { error: { code: "forbidden", message: "no", details: { issues: [] } } })).toEqual([]);
    expect(check(doc.components.schemas.Error, { error: { code: "forbidden" } })).toEqual(["/error must have required property 'message'"]);
    // Roles come from the route → role table, so they agree with what route-roles.test.ts asks.
    expect(doc.paths["/v1/decisions"].get.security).toEqual([{ apiKey: ["admin", "auditor"] }]);
    expect(doc.paths["/v1/mcp/tools/call"].post.security).toEqual([{ apiKey: ["admin", "pep"] }]);
    expect(doc.paths["/v1/policy-sets/{version}/policies"].get.security).toEqual([{ apiKey: ["admin", "policy-admin", "auditor"] }]);
    expect(doc.paths["/v1/keys"].post.security).toEqual([{ apiKey: ["admin"] }]);
    expect(doc.paths["/healthz"].get.security).toEqual([]);
    expect(doc.paths["/readyz"].get.security).toEqual([{}, { apiKey: [] }]);
  });

  it("takes its request schemas from the zod contract: the same limits and required fields", () => {
    const body = doc.paths["/v1/mcp/tools/call"].post.requestBody.content["application/json"].schema;
    expect(body.required).toEqual(["server", "tool"]);
    expect(body.properties.agent).toEqual({ type: "string", minLength: 1, maxLength: 256 });
    expect(check(body, { server: "filesystem", tool: "read_file", arguments: { path: "/x" } })).toEqual([]);
    expect(check(body, { server: "filesystem", tool: 7 })).toEqual(["/tool must be string"]);
    const limit = doc.paths["/v1/decisions"].get.parameters.find((p: Json) => p.name === "limit");
    expect(limit).toEqual({ name: "limit", in: "query", required: false, schema: { default: 50, type: "integer", minimum: 1, maximum: 1000 } });
  });
});

describe("the curl examples of README.md and docs/*.md fit the document", () => {
  const examples = readmeExamples();

  it("validates every request body, query parameter and header of a documented curl against its operation", () => {
    const problems: string[] = [];
    let bodies = 0;
    let queries = 0;
    let headers = 0;
    for (const ex of examples) {
      for (const c of curls(ex.script)) {
        const op = operationFor(c.method, c.path);
        if (!op) {
          problems.push(`${ex.file}:${ex.line}: ${c.method} ${c.path} is not in the document`);
          continue;
        }
        const names = new Set((op.parameters ?? []).filter((p: Json) => p.in === "query").map((p: Json) => p.name));
        for (const q of c.query) {
          queries++;
          if (!names.has(q) && !(q.startsWith("arg.") && names.has("arg.<path>"))) problems.push(`${ex.file}:${ex.line}: query parameter ${q} is not declared`);
        }
        const headerNames = new Set((op.parameters ?? []).filter((p: Json) => p.in === "header").map((p: Json) => p.name.toLowerCase()));
        for (const h of c.headers) {
          headers++;
          // Authorization is the security scheme; content negotiation is the media types'.
          if (!["authorization", "content-type", "accept"].includes(h) && !headerNames.has(h)) problems.push(`${ex.file}:${ex.line}: header ${h} is not declared`);
        }
        if (c.body === undefined) continue;
        bodies++;
        const schema = op.requestBody?.content?.["application/json"]?.schema;
        if (!schema) {
          problems.push(`${ex.file}:${ex.line}: ${c.method} ${c.path} takes no body`);
          continue;
        }
        // A body the server refuses for its content (the integer beyond 2^53) is still of the schema's shape.
        for (const e of check(schema, JSON.parse(c.body))) problems.push(`${ex.file}:${ex.line}: body ${e}`);
      }
    }
    expect(problems).toEqual([]);
    expect(bodies).toBe(examples.flatMap((e) => curls(e.script)).filter((c) => c.body !== undefined).length);
    expect(bodies).toBeGreaterThanOrEqual(7);
    expect(queries).toBeGreaterThanOrEqual(5);
    expect(headers).toBeGreaterThanOrEqual(20);
  });

  it("validates every documented JSON answer against the response schema of its status", () => {
    const problems: string[] = [];
    let answers = 0;
    for (const ex of examples) {
      if (ex.documented === null || typeof ex.documented !== "object" || Array.isArray(ex.documented)) continue;
      const last = curls(ex.script).at(-1)!;
      const response = operationFor(last.method, last.path)?.responses?.[String(ex.status)];
      const schema = (deref(response) as Json | undefined)?.content?.["application/json"]?.schema;
      if (!schema) {
        problems.push(`${ex.file}:${ex.line}: no JSON answer for ${ex.status} of ${last.method} ${last.path}`);
        continue;
      }
      answers++;
      for (const e of check(schema, ex.documented)) problems.push(`${ex.file}:${ex.line}: answer ${e}`);
    }
    expect(problems).toEqual([]);
    expect(answers).toBeGreaterThanOrEqual(10);
  });
});

describe("real answers fit the document", () => {
  const problems: string[] = [];
  /** `METHOD path status` of each request, to show which answers were checked. */
  const seen: string[] = [];
  /**
   * Sends a request and checks the answer against the document: a JSON answer against the schema
   * of its status, another against the media types listed for it.
   */
  const ask = async (method: string, path: string, opts: { body?: unknown; key?: string | null; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any }> => {
    const res = await t.request(path, { method, ...opts });
    seen.push(`${method} ${path.replace(/[0-9a-f]{8}-[0-9a-f-]{27}|sha256:[0-9a-f]{64}|key_[0-9a-f]+/g, "<id>")} ${res.status}`);
    const type = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
    const response = deref(operationFor(method, path.split("?")[0]!)?.responses?.[String(res.status)]) as Json | undefined;
    const content = (response?.content ?? {}) as Record<string, Json>;
    if (!response) problems.push(`${method} ${path}: ${res.status} is not documented`);
    else if (!(type in content)) problems.push(`${method} ${path} (${res.status}): ${type} is not a documented media type`);
    if (type !== "application/json") return { status: res.status, body: await res.text() };
    const body = await res.json();
    if (content[type]) for (const e of check(content[type]!.schema, body)) problems.push(`${method} ${path} (${res.status}): ${e}`);
    return { status: res.status, body };
  };

  it("validates the answers of health, metadata, decisions, the record and keys", async () => {
    problems.length = seen.length = 0;
    await ask("GET", "/healthz");
    await ask("GET", "/readyz");
    await ask("GET", "/readyz", { key: null });
    await ask("GET", "/.well-known/jwks.json");
    await ask("GET", "/.well-known/authzen-configuration");
    const call = (await ask("POST", "/v1/mcp/tools/call", { body: { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" } } })).body;
    await ask("POST", "/v1/mcp/tools/call", { body: { agent: "incident-bot", server: "filesystem", tool: 7 } });
    await ask("POST", "/v1/mcp/tools/call", { body: "x".repeat(1024 * 1024 + 1), headers: { "content-type": "application/json" } });
    await ask("POST", "/v1/mcp/tools/list", { body: { agent: "incident-bot", server: "filesystem", tools: [{ name: "read_file", inputSchema: { type: "object" } }] } });
    await ask("POST", "/v1/authorize", {
      body: { principal: { type: "Mcp::Agent", id: "incident-bot" }, action: { type: "Mcp::Action", id: "filesystem/read_file" }, resource: { type: "Mcp::Server", id: "filesystem" } },
    });
    await ask("POST", "/v1/authorize/batch", {
      body: { requests: [{ principal: { type: "Mcp::Agent", id: "incident-bot" }, action: { type: "Mcp::Action", id: "filesystem/read_file" }, resource: { type: "Mcp::Server", id: "filesystem" } }] },
    });
    const evaluation = { subject: { type: "agent", id: "incident-bot" }, action: { name: "read_file" }, resource: { type: "server", id: "filesystem" } };
    await ask("POST", "/access/v1/evaluation", { body: { ...evaluation, options: { verdict_context: true } } });
    await ask("POST", "/access/v1/evaluations", { body: { ...evaluation, evaluations: [{}, { action: { name: "write_file" } }] } });
    await ask("GET", "/v1/decisions?limit=2");
    await ask("GET", "/v1/decisions?limit=0");
    await ask("GET", `/v1/decisions/${call.decisionId}`);
    await ask("GET", "/v1/decisions/not-a-uuid");
    await ask("GET", "/v1/decisions/0190c8e0-0000-7000-8000-000000000000");
    await ask("GET", "/v1/decisions/stats?bucket=day");
    const csv = await ask("GET", "/v1/decisions/export?format=csv");
    await ask("GET", "/v1/decisions/export");
    await ask("GET", "/v1/audit/verify");
    await ask("GET", `/v1/audit/decisions/${call.decisionId}`);
    await ask("GET", "/v1/tools/drift?all=true");
    await ask("GET", "/v1/keys");
    await ask("GET", "/v1/keys", { key: t.keys.pep });
    await ask("GET", "/v1/keys", { key: null });
    await ask("DELETE", "/v1/keys/no-such-key");
    const created = (await ask("POST", "/v1/keys", { body: { name: "openapi-test", role: "auditor" } })).body;
    await ask("DELETE", `/v1/keys/${created.id}`);
    await ask("GET", "/openapi.json", { key: null });
    const page = await ask("GET", "/ui/", { key: null });
    // The explorer links to the document (issue 15: "The explorer links to it").
    expect(page.body).toContain('<a href="/openapi.json"');
    await ask("GET", "/ui/app.js", { key: null });
    await ask("GET", "/metrics");
    // Which answers were checked: successes, and each error family where it can happen.
    expect(seen).toEqual([
      "GET /healthz 200",
      "GET /readyz 200",
      "GET /readyz 200",
      "GET /.well-known/jwks.json 200",
      "GET /.well-known/authzen-configuration 200",
      "POST /v1/mcp/tools/call 200",
      "POST /v1/mcp/tools/call 400",
      "POST /v1/mcp/tools/call 413",
      "POST /v1/mcp/tools/list 200",
      "POST /v1/authorize 200",
      "POST /v1/authorize/batch 200",
      "POST /access/v1/evaluation 200",
      "POST /access/v1/evaluations 200",
      "GET /v1/decisions?limit=2 200",
      "GET /v1/decisions?limit=0 400",
      "GET /v1/decisions/<id> 200",
      "GET /v1/decisions/not-a-uuid 400",
      "GET /v1/decisions/<id> 404",
      "GET /v1/decisions/stats?bucket=day 200",
      "GET /v1/decisions/export?format=csv 200",
      "GET /v1/decisions/export 200",
      "GET /v1/audit/verify 200",
      "GET /v1/audit/decisions/<id> 200",
      "GET /v1/tools/drift?all=true 200",
      "GET /v1/keys 200",
      "GET /v1/keys 403",
      "GET /v1/keys 401",
      "DELETE /v1/keys/no-such-key 404",
      "POST /v1/keys 201",
      "DELETE /v1/keys/<id> 200",
      "GET /openapi.json 200",
      "GET /ui/ 200",
      "GET /ui/app.js 200",
      "GET /metrics 200",
    ]);
    expect(problems).toEqual([]);
    expect(call.decision).toBe("allow");
    expect(csv.status).toBe(200);
  }, 120_000);

  it("validates the answers of the policy-set lifecycle: publish, show, diff, edit, activate, replay, roll back", async () => {
    problems.length = seen.length = 0;
    const base = readSources(EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR);
    const v1 = (await ask("POST", "/v1/policy-sets", { body: { sources: base, message: "examples" } })).body.version;
    expect((await ask("POST", "/v1/policy-sets", { body: { sources: base } })).status).toBe(200);
    await ask("POST", "/v1/policy-sets", { body: { sources: { ...base, policies: { "x.cedar": "permit (" } } } });
    await ask("GET", "/v1/policy-sets");
    await ask("GET", `/v1/policy-sets/${v1}`);
    await ask("GET", `/v1/policy-sets/${v1}/policies?id=allow-file-reads&id=no-such-policy`);
    await ask("GET", "/v1/policy-sets/0000000000/policies");
    const template = {
      id: "openapi-grant",
      text: 'permit (principal == ?principal, action in Mcp::Action::"filesystem", resource == ?resource) when { context.session has task && context.session.task.id == "REP-7" };',
    };
    const v2 = (await ask("POST", `/v1/policy-sets/${v1}/templates`, { body: template })).body.version;
    const link = { templateId: "openapi-grant", id: "openapi-grant-report-bot", principal: { type: "Mcp::Agent", id: "report-bot" }, resource: { type: "Mcp::Server", id: "filesystem" } };
    const v3 = (await ask("POST", `/v1/policy-sets/${v2}/links`, { body: link })).body.version;
    await ask("GET", `/v1/policy-sets/${v3}`);
    await ask("GET", `/v1/policy-sets/${v3}/diff?against=${v1}`);
    await ask("POST", `/v1/policy-sets/${v1}/activate`);
    await ask("POST", `/v1/policy-sets/${v3}/activate`);
    await ask("POST", "/v1/mcp/tools/call", { body: { agent: "report-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/reports/q3.md" }, task: { id: "REP-7" } } });
    await ask("POST", `/v1/policy-sets/${v1}/replay`, { body: { examples: 5 } });
    await ask("POST", `/v1/policy-sets/${v1}/replay`, { body: { examples: -1 } });
    const streamed = await ask("POST", `/v1/policy-sets/${v1}/replay`, { body: {}, headers: { accept: "application/x-ndjson" } });
    await ask("DELETE", `/v1/policy-sets/${v3}/links/openapi-grant-report-bot`);
    await ask("DELETE", `/v1/policy-sets/${v3}/links/no-such-link`);
    await ask("POST", "/v1/policy-sets/rollback");
    await ask("POST", "/v1/signing-keys/rotate");
    expect(seen).toEqual([
      "POST /v1/policy-sets 201",
      "POST /v1/policy-sets 200",
      "POST /v1/policy-sets 400",
      "GET /v1/policy-sets 200",
      "GET /v1/policy-sets/<id> 200",
      "GET /v1/policy-sets/<id>/policies?id=allow-file-reads&id=no-such-policy 200",
      "GET /v1/policy-sets/0000000000/policies 404",
      "POST /v1/policy-sets/<id>/templates 201",
      "POST /v1/policy-sets/<id>/links 201",
      "GET /v1/policy-sets/<id> 200",
      "GET /v1/policy-sets/<id>/diff?against=<id> 200",
      "POST /v1/policy-sets/<id>/activate 200",
      "POST /v1/policy-sets/<id>/activate 200",
      "POST /v1/mcp/tools/call 200",
      "POST /v1/policy-sets/<id>/replay 200",
      "POST /v1/policy-sets/<id>/replay 400",
      "POST /v1/policy-sets/<id>/replay 200",
      "DELETE /v1/policy-sets/<id>/links/openapi-grant-report-bot 200",
      "DELETE /v1/policy-sets/<id>/links/no-such-link 404",
      "POST /v1/policy-sets/rollback 200",
      "POST /v1/signing-keys/rotate 200",
    ]);
    expect(problems).toEqual([]);
    expect(streamed.body).toMatch(/"report":/);
  }, 120_000);
});
