/**
 * Who may call what: one hono middleware in front of every route, driven by one route → role
 * table. A route nobody listed is open to `admin` only, so a new endpoint is closed until
 * someone says otherwise (fail closed); a route listed by prefix covers everything added under it.
 */
import type { MiddlewareHandler } from "hono";
import type { ApiKeyInfo, ApiKeyRole } from "../contract/api-keys.js";
import { VerdictError } from "./errors.js";
import type { ApiKeyStore } from "../api-keys/store.js";

/**
 * Paths anyone may read without a key: liveness and readiness (for load balancers) and public
 * metadata (Verdict's public signing keys, AuthZEN discovery, the OpenAPI document, which
 * describes the API and holds no data). Nothing here decides or reveals a decision.
 */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set([
  "/healthz",
  "/readyz",
  "/.well-known/jwks.json",
  "/.well-known/authzen-configuration",
  "/openapi.json",
]);

/**
 * Path prefixes anyone may read: the decision explorer's static page and scripts (`/ui`). They
 * hold no data; the page asks the API for decisions with the key the auditor pastes in.
 */
export const PUBLIC_PREFIXES: readonly string[] = ["/ui"];

/** A row of the route table: a path prefix (whole segments), optionally some methods, the roles it admits. */
export interface RouteRule {
  prefix: string;
  methods?: readonly string[];
  roles: readonly ApiKeyRole[];
}

/**
 * The route → role table, first match wins; `admin` is admitted everywhere. `prefix` matches the
 * path itself and anything below it (`/v1/authorize` covers `/v1/authorize/batch`); a `*`
 * segment matches any one segment.
 */
export const ROUTE_ROLES: readonly RouteRule[] = [
  { prefix: "/v1/mcp", roles: ["pep"] },
  { prefix: "/v1/authorize", roles: ["pep"] },
  { prefix: "/access/v1", roles: ["pep"] },
  { prefix: "/v1/decisions", roles: ["auditor"] },
  // Task memory: a gateway ends the task it served; auditors read what was done on it.
  { prefix: "/v1/tasks/*/end", methods: ["POST"], roles: ["pep"] },
  { prefix: "/v1/tasks", methods: ["GET"], roles: ["auditor"] },
  // Approvals: people of the group decide; auditors read; a gateway reads the request its call made.
  { prefix: "/v1/approvals/*/approve", methods: ["POST"], roles: ["approver"] },
  { prefix: "/v1/approvals/*/deny", methods: ["POST"], roles: ["approver"] },
  { prefix: "/v1/approvals/*", methods: ["GET"], roles: ["approver", "auditor", "pep"] },
  { prefix: "/v1/approvals", methods: ["GET"], roles: ["approver", "auditor"] },
  { prefix: "/v1/audit", roles: ["auditor"] },
  // The text of a version's policies: auditors read what decided (the explorer's detail).
  { prefix: "/v1/policy-sets/*/policies", methods: ["GET"], roles: ["policy-admin", "auditor"] },
  { prefix: "/v1/policy-sets", roles: ["policy-admin"] },
  { prefix: "/v1/tools/drift", roles: ["policy-admin"] },
  // Prometheus scrapes (docs/observability.md); VERDICT_METRICS_ADDR serves it without a key.
  { prefix: "/metrics", roles: ["metrics"] },
  { prefix: "/v1/keys", roles: [] },
  { prefix: "/v1/signing-keys", roles: [] },
];

function covers(prefix: string, path: string): boolean {
  // A `*` segment of a prefix matches any one non-empty segment of the path (a version, an id).
  if (prefix.includes("/*")) {
    const want = prefix.split("/");
    const got = path.split("/");
    return got.length >= want.length && want.every((w, i) => (w === "*" ? got[i] !== "" : w === got[i]));
  }
  return path === prefix || path.startsWith(prefix.endsWith("/") ? prefix : `${prefix}/`);
}

/** The roles (besides `admin`) a request may be made with, or `"public"`. */
export function rolesFor(method: string, path: string): readonly ApiKeyRole[] | "public" {
  if (PUBLIC_PATHS.has(path) || PUBLIC_PREFIXES.some((p) => covers(p, path))) return "public";
  const rule = ROUTE_ROLES.find((r) => covers(r.prefix, path) && (!r.methods || r.methods.includes(method)));
  return rule?.roles ?? [];
}

/** The text a decision record's `caller` gives for a key: `apikey:<id> (<name>)`. */
export function callerOf(key: ApiKeyInfo): string {
  return `apikey:${key.id} (${key.name})`;
}

/** Hono variables the middleware sets: the authenticated key (absent on public paths). */
export type AuthVariables = { apiKey?: ApiKeyInfo };

/**
 * Requires `Authorization: Bearer <API key>` on every non-public path.
 * @throws VerdictError 401 when the key is missing, unknown or revoked; 403 when its role is not
 *   admitted; 503 when the key store cannot be read. The request goes no further in each case, so
 *   no decision is made or recorded.
 */
export function apiKeyAuth(store: ApiKeyStore): MiddlewareHandler<{ Variables: AuthVariables }> {
  return async (c, next) => {
    const roles = rolesFor(c.req.method, c.req.path);
    if (roles === "public") return next();
    const header = c.req.header("authorization");
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) {
      c.header("WWW-Authenticate", 'Bearer realm="verdict"');
      throw new VerdictError("unauthorized", "missing API key: send it as Authorization: Bearer <key>");
    }
    let key: ApiKeyInfo | null;
    try {
      key = await store.authenticate(match[1]!);
    } catch (e) {
      throw new VerdictError("unavailable", "API keys cannot be read", undefined, { cause: e });
    }
    if (!key) {
      c.header("WWW-Authenticate", 'Bearer realm="verdict", error="invalid_token"');
      throw new VerdictError("unauthorized", "API key is unknown or revoked");
    }
    if (key.role !== "admin" && !roles.includes(key.role)) {
      const need = ["admin", ...roles].join(" or ");
      throw new VerdictError("forbidden", `API key ${key.id} has role ${key.role}; ${c.req.method} ${c.req.path} needs ${need}`);
    }
    c.set("apiKey", key);
    return next();
  };
}
