/**
 * Mounts Verdict's app in-process over a test database, with the example policy set (or any
 * other). `request()` is the way tests talk to it: it sends JSON and, by default, the admin API
 * key, so tests stay the same as the API grows; `key` sends another key (one per role is made in
 * `keys`), or none with `key: null`.
 */
import { join } from "node:path";
import pino, { type Logger } from "pino";
import { ApiKeyStore } from "../../src/api-keys/store.js";
import type { IssuerConfig, RequireVerified } from "../../src/config.js";
import type { ApiKeyRole } from "../../src/contract/api-keys.js";
import { DecisionLog } from "../../src/decision-log/writer.js";
import type { Masking } from "../../src/decision-log/masking.js";
import type { AccessLogLevel } from "../../src/http/access-log.js";
import { createApp } from "../../src/http/app.js";
import { IdentityResolver } from "../../src/identity/resolve.js";
import type { Db } from "../../src/db/client.js";
import type { TaskHistory } from "../../src/pdp/history.js";
import type { TaskEnds } from "../../src/tasks/ends.js";
import { TokenVerifier } from "../../src/identity/token-verifier.js";
import { SigningKeys } from "../../src/signing-keys/store.js";
import { ActivePolicySet } from "../../src/policy/active.js";
import { loadPolicySet } from "../../src/policy/build.js";
import type { PolicySet } from "../../src/policy/policy-set.js";
import { createTestDatabase, type TestDatabase } from "./db.js";
import { checkResponse } from "./error-bodies.js";

export const ROOT = join(import.meta.dirname, "..", "..");
export const EXAMPLE_POLICY_DIR = join(ROOT, "policies");
export const EXAMPLE_SCHEMA_DIR = join(ROOT, "schema");

/** The `iss` of the credentials a test app mints. */
export const TEST_ISSUER = "https://verdict.test";

/** The admin key tests give a Verdict process they spawn (`VERDICT_ADMIN_KEY`). */
export const TEST_ADMIN_KEY = "test-admin-key-0123456789";

let examples: PolicySet | undefined;
/** The repository's example policy set, loaded once per test file. */
export function examplePolicySet(): PolicySet {
  return (examples ??= loadPolicySet(EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR));
}

export interface TestApp {
  app: ReturnType<typeof createApp>;
  db: TestDatabase;
  log: DecisionLog;
  policies: ActivePolicySet;
  apiKeys: ApiKeyStore;
  signingKeys: SigningKeys;
  /** One API key per role (`keys.admin` is what `request()` sends by default). */
  keys: Record<ApiKeyRole, string>;
  /**
   * Sends a request; a non-string `body` is sent as JSON. `key`: the API key to send
   * (default `keys.admin`; null sends none).
   */
  request(path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string>; key?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

export async function createTestApp(
  opts: {
    policySet?: PolicySet;
    now?: () => Date;
    issuers?: IssuerConfig[];
    requireVerified?: RequireVerified;
    credentialTtlSeconds?: number;
    masking?: Masking;
    /** The app's logger (default: silent), for tests that read its lines. */
    logger?: Logger;
    /** `VERDICT_ACCESS_LOG` (default `info`, on the logger above). */
    accessLog?: AccessLogLevel;
    /** Task memory's source, or how to make it over the test database (default: `new TaskHistory(db)`). */
    history?: TaskHistory | ((db: Db) => TaskHistory);
    /** Ended tasks, or how to make them over the test database and log (default: `new TaskEnds(db, log)`). */
    tasks?: (db: Db, log: DecisionLog) => TaskEnds;
  } = {},
): Promise<TestApp> {
  const db = await createTestDatabase();
  const logger = opts.logger ?? pino({ level: "silent" });
  const log = new DecisionLog(db.database, { logger });
  const policies = new ActivePolicySet(opts.policySet ?? examplePolicySet());
  const apiKeys = new ApiKeyStore(db.database.db);
  const keys = {} as Record<ApiKeyRole, string>;
  for (const role of ["admin", "pep", "auditor", "policy-admin", "metrics"] as const) keys[role] = (await apiKeys.create({ name: `test-${role}`, role })).key;
  const signingKeys = await SigningKeys.open(db.database.db);
  const identity = new IdentityResolver(new TokenVerifier(opts.issuers ?? [], opts.now), opts.requireVerified ?? "none");
  const app = createApp({
    policies,
    log,
    database: db.database,
    logger,
    apiKeys,
    signingKeys,
    identity,
    issuer: () => TEST_ISSUER,
    // As in a server with VERDICT_PUBLIC_URL and VERDICT_ISSUER unset: the issuer is the public URL.
    publicUrl: () => TEST_ISSUER,
    credentialTtlSeconds: opts.credentialTtlSeconds,
    now: opts.now,
    masking: opts.masking,
    accessLog: opts.accessLog,
    history: typeof opts.history === "function" ? opts.history(db.database.db) : opts.history,
    tasks: opts.tasks?.(db.database.db, log),
  });
  return {
    app,
    db,
    log,
    policies,
    apiKeys,
    signingKeys,
    keys,
    request: (path, init = {}) => {
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      const key = init.key === undefined ? keys.admin : init.key;
      if (key !== null) headers.authorization ??= `Bearer ${key}`;
      let body: string | undefined;
      if (init.body !== undefined) {
        body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
        headers["content-type"] ??= "application/json";
      }
      const method = init.method ?? (body === undefined ? "GET" : "POST");
      // every error body is scanned for SQL, stack traces and record columns (./error-bodies.ts)
      return Promise.resolve(app.request(path, { method, body, headers })).then(async (res) => {
        await checkResponse(res, `${method} ${path}`);
        return res;
      });
    },
    close: async () => {
      await log.close();
      await db.dispose();
    },
  };
}
