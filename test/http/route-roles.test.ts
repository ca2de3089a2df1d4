/**
 * Every route the app registers, asked with every role's key and with none, against the
 * intended route → role table written out below (independently of `ROUTE_ROLES` in
 * src/http/key-auth.ts, so a wrong rule there cannot make this test agree with it). A route
 * registered without a row here fails the test: whoever adds an endpoint must say who may call it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyRole } from "../../src/contract/api-keys.js";
import { createTestApp, type TestApp } from "../helpers/app.js";

type Role = ApiKeyRole;
type Intended = "public" | readonly Role[];

const PEP = ["pep", "admin"] as const;
const AUDITOR = ["auditor", "admin"] as const;
const POLICY_ADMIN = ["policy-admin", "admin"] as const;
const ADMIN = ["admin"] as const;

/** `METHOD path` as hono lists it in `app.routes` → who may call it. */
const INTENDED: Record<string, Intended> = {
  "GET /healthz": "public",
  "GET /readyz": "public",
  "GET /.well-known/jwks.json": "public",
  "GET /.well-known/authzen-configuration": "public",
  "GET /openapi.json": "public",
  "GET /ui": "public",
  "GET /ui/*": "public",

  "POST /v1/mcp/tools/call": PEP,
  "POST /v1/mcp/tools/list": PEP,
  "POST /v1/authorize": PEP,
  "POST /v1/authorize/batch": PEP,
  "POST /access/v1/evaluation": PEP,
  "POST /access/v1/evaluations": PEP,

  "GET /v1/decisions": AUDITOR,
  "GET /v1/decisions/export": AUDITOR,
  "GET /v1/decisions/stats": AUDITOR,
  "GET /v1/decisions/:id": AUDITOR,
  "GET /v1/audit/verify": AUDITOR,
  "POST /v1/tasks/:taskId/end": PEP,
  "GET /v1/tasks/:taskId": AUDITOR,
  "GET /v1/approvals": ["approver", "auditor", "admin"],
  "GET /v1/approvals/:id": ["approver", "auditor", "pep", "admin"],
  "POST /v1/approvals/:id/approve": ["approver", "admin"],
  "POST /v1/approvals/:id/deny": ["approver", "admin"],
  "GET /v1/audit/decisions/:id": AUDITOR,

  "POST /v1/policy-sets": POLICY_ADMIN,
  "GET /v1/policy-sets": POLICY_ADMIN,
  "POST /v1/policy-sets/rollback": POLICY_ADMIN,
  "GET /v1/policy-sets/:version": POLICY_ADMIN,
  "GET /v1/policy-sets/:version/diff": POLICY_ADMIN,
  // The text of a version's policies, for the explorer's decision detail (defect 9).
  "GET /v1/policy-sets/:version/policies": ["policy-admin", "auditor", "admin"],
  "POST /v1/policy-sets/:version/activate": POLICY_ADMIN,
  "POST /v1/policy-sets/:version/templates": POLICY_ADMIN,
  "POST /v1/policy-sets/:version/links": POLICY_ADMIN,
  "DELETE /v1/policy-sets/:version/links/:id": POLICY_ADMIN,
  "POST /v1/policy-sets/:version/replay": POLICY_ADMIN,
  "GET /v1/tools/drift": POLICY_ADMIN,

  "GET /metrics": ["metrics", "admin"],

  "POST /v1/keys": ADMIN,
  "GET /v1/keys": ADMIN,
  "DELETE /v1/keys/:id": ADMIN,
  "POST /v1/signing-keys/rotate": ADMIN,
};

/** A concrete path for a route pattern: `:param` and `*` become a harmless segment. */
function concrete(pattern: string): string {
  return pattern.replace(/:[A-Za-z0-9_]+(\{[^}]*\})?/g, "route-roles-probe").replace(/\*/g, "route-roles-probe");
}

let t: TestApp;
const keys = {} as Record<Role, string>;
beforeAll(async () => {
  t = await createTestApp();
  // One key per role the wire contract defines, so a role added later is checked too.
  for (const role of ApiKeyRole.options) keys[role] = (await t.apiKeys.create({ name: `route-roles-${role}`, role })).key;
}, 120_000);
afterAll(async () => {
  await t?.close();
});

/** The routes the app serves, without the `app.use` middleware that hono lists as `ALL /*`. */
function routes(): Array<{ method: string; path: string; id: string }> {
  const seen = new Set<string>();
  const out: Array<{ method: string; path: string; id: string }> = [];
  for (const r of t.app.routes) {
    if (r.method === "ALL" && r.path === "/*") continue;
    const id = `${r.method} ${r.path}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ method: r.method, path: r.path, id });
  }
  return out;
}

describe("defect 11: a pep key was refused only on GET /v1/decisions; every route against the route → role table", () => {
  it("lists every registered route in the intended table, and no route the app does not serve", () => {
    const ids = routes().map((r) => r.id);
    expect(ids.filter((id) => !(id in INTENDED)), "routes without an intended rule").toEqual([]);
    expect(Object.keys(INTENDED).filter((id) => !ids.includes(id)), "table rows for routes the app does not serve").toEqual([]);
  });

  it("answers 403 to every role the route does not admit, 401 without a key, and lets the admitted ones through", async () => {
    const wrong: string[] = [];
    let refusals = 0;
    for (const route of routes()) {
      const intended = INTENDED[route.id];
      if (intended === undefined) continue; // reported by the test above
      const path = concrete(route.path);
      const method = route.method === "ALL" ? "GET" : route.method;
      const body = method === "GET" || method === "DELETE" ? undefined : {};
      const ask = async (key: string | null) => {
        const res = await t.request(path, { method, body, key });
        const text = await res.text();
        let code: unknown;
        try {
          code = JSON.parse(text)?.error?.code;
        } catch {
          code = undefined;
        }
        return { status: res.status, code };
      };

      const anonymous = await ask(null);
      if (intended === "public") {
        if (anonymous.status === 401 || anonymous.status === 403) wrong.push(`${route.id} without a key: ${anonymous.status}, want public`);
      } else if (anonymous.status !== 401 || anonymous.code !== "unauthorized") {
        wrong.push(`${route.id} without a key: ${anonymous.status} ${String(anonymous.code)}, want 401 unauthorized`);
      }

      // Refused roles first, so a destructive admin call (rotate, activate) comes last.
      const roles = [...ApiKeyRole.options].sort((a, b) => Number(intended === "public" || intended.includes(a)) - Number(intended === "public" || intended.includes(b)));
      for (const role of roles) {
        const admitted = intended === "public" || intended.includes(role);
        const got = await ask(keys[role]);
        if (admitted) {
          if (got.status === 401 || got.status === 403) wrong.push(`${route.id} as ${role}: ${got.status}, want admitted`);
        } else {
          refusals++;
          if (got.status !== 403 || got.code !== "forbidden") wrong.push(`${route.id} as ${role}: ${got.status} ${String(got.code)}, want 403 forbidden`);
        }
      }
    }
    expect(wrong).toEqual([]);
    // The table above refuses each role somewhere; the count shows the loop really asked.
    expect(refusals).toBe(
      Object.values(INTENDED).reduce((n, i) => n + (i === "public" ? 0 : ApiKeyRole.options.filter((r) => !i.includes(r)).length), 0),
    );
  }, 120_000);

  it("refuses a pep key on every auditor route, whatever the query or id", async () => {
    const auditorPaths = [
      "/v1/decisions",
      "/v1/decisions?agent=incident-bot",
      "/v1/decisions/export",
      "/v1/decisions/export?format=ndjson",
      "/v1/decisions/stats",
      "/v1/decisions/0190c8e0-0000-7000-8000-000000000000",
      "/v1/decisions/",
      "/v1/audit/verify",
      "/v1/audit/decisions/0190c8e0-0000-7000-8000-000000000000",
    ];
    const answers = await Promise.all(
      auditorPaths.map(async (path) => {
        const res = await t.request(path, { key: keys.pep });
        return [path, res.status, (await res.json()).error?.code];
      }),
    );
    expect(answers).toEqual(auditorPaths.map((path) => [path, 403, "forbidden"]));
  });
});
