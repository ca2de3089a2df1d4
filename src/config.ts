/**
 * Verdict's configuration: the environment, parsed once with zod (DESIGN.md "Configuration"),
 * in two sections: the server's ({@link loadConfig}) and the `verdict` CLI's
 * ({@link loadCliConfig}). Nothing else in `src/` reads `process.env` (`test/config.test.ts`
 * checks); the defaults they share are the constants below. The gateway (`verdict-mcp`, in
 * `packages/mcp`) is installed without the server and reads its own options.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { z } from "zod";
import type { JWK } from "jose";
import { loadMaskingRules, MaskingConfigError, type MaskingRules } from "./decision-log/masking.js";
import { KeyFormatError, parsePublicKeys, parseSigningKey, type ExternalSigningKey } from "./signing-keys/store.js";

function maskingRules(file: string): MaskingRules {
  try {
    return loadMaskingRules(file);
  } catch (e) {
    if (e instanceof MaskingConfigError) throw new ConfigError(`invalid configuration: VERDICT_MASKING_FILE: ${e.message}`);
    throw e;
  }
}

/**
 * A trusted token issuer (README "Security"): whose JWTs Verdict accepts as proof of who the
 * agent (`kind: "agent"`) or the user (`kind: "user"`) is. Keys come from a JWKS URL (fetched and
 * cached, refetched on an unknown `kid`) or a JWKS file (read at start). The same issuer may be
 * listed twice, once per kind.
 */
export const IssuerConfig = z
  .object({
    /** Exact `iss` value of the tokens. */
    issuer: z.string().min(1),
    jwksUrl: z.url({ protocol: /^https?$/ }).optional(),
    jwksFile: z.string().min(1).optional(),
    /** Accepted `aud` value(s): Verdict's identifier at this issuer. */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    kind: z.enum(["agent", "user"]),
    /** Claim holding the Cedar entity id (dot path for nested claims); default `sub`. */
    idClaim: z.string().min(1).default("sub"),
    /** A prefix the id claim must start with, removed to give the entity id (e.g. `spiffe://acme.example/agent/`). */
    idPrefix: z.string().min(1).optional(),
    /** Claim holding group names (an array, or a space-separated string), mapped to the entity's parents. */
    groupsClaim: z.string().min(1).optional(),
    /** Accepted signature algorithms; `none` is never accepted. */
    algorithms: z.array(z.enum(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"])).min(1).optional(),
    /** Clock skew tolerated on `exp` and `nbf`, in seconds (default 30). */
    clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
  })
  .refine((i) => Boolean(i.jwksUrl) !== Boolean(i.jwksFile), { message: "give exactly one of jwksUrl and jwksFile" });
export type IssuerConfig = z.infer<typeof IssuerConfig>;

/** Which parties must be proven by a token; `none` accepts asserted identities. */
export const RequireVerified = z.enum(["none", "agent", "user", "both"]);
export type RequireVerified = z.infer<typeof RequireVerified>;

/**
 * `VERDICT_PUBLIC_URL`: the URL clients reach Verdict at (scheme, host, optional port and path
 * prefix), for what Verdict publishes about itself. An http(s) URL without credentials, query or
 * fragment; a trailing `/` is dropped, so paths can be appended.
 */
const PublicUrl = z
  .url({ protocol: /^https?$/ })
  .refine((u) => {
    // zod runs this check after a failed URL check too: a string `URL` cannot parse is refused there.
    if (!URL.canParse(u)) return true;
    const url = new URL(u);
    return !url.username && !url.password && !u.includes("?") && !u.includes("#");
  }, "must be an http(s) URL without credentials, query or fragment")
  .transform((u) => u.replace(/\/+$/, ""));

/**
 * `VERDICT_METRICS_ADDR`: `host:port` of the keyless `/metrics` listener (an IPv6 host in
 * brackets, `[::1]:9464`); port 0 picks a free one.
 */
const MetricsAddr = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+):(\d{1,5})$/, "must be host:port (an IPv6 host in brackets)")
  .transform((v) => {
    const at = v.lastIndexOf(":");
    return { host: v.slice(0, at).replace(/^\[(.*)\]$/, "$1"), port: Number(v.slice(at + 1)) };
  })
  .refine((a) => a.port <= 65535, "port must be 0-65535");

/** An OTLP/HTTP endpoint: an http(s) URL; the empty string counts as unset (OTel's rule). */
const OtlpUrl = z
  .url({ protocol: /^https?$/ })
  .optional()
  .or(z.literal("").transform(() => undefined));

/** The port Verdict listens on when `PORT` is unset. */
export const DEFAULT_PORT = 8700;
/** The interface Verdict listens on when `HOST` is unset: loopback only. */
export const DEFAULT_HOST = "127.0.0.1";
/** Where the CLI reaches Verdict when neither `--url` nor `VERDICT_URL` is given: a server started with the defaults. */
export const DEFAULT_URL = `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;
/** The embedded (PGlite) database's directory when `VERDICT_DATA_DIR` is unset, relative to the working directory. */
export const DEFAULT_DATA_DIR = "./.verdict";
/** The policy directory when `VERDICT_POLICY_DIR` (or a CLI command's `[dir]`) is not given, relative to the working directory. */
export const DEFAULT_POLICY_DIR = "./policies";
/** The schema directory when `VERDICT_SCHEMA_DIR` is unset, relative to the working directory. */
export const DEFAULT_SCHEMA_DIR = "./schema";
/** Most answers the decision cache keeps when `VERDICT_DECISION_CACHE_ENTRIES` is unset. */
export const DEFAULT_DECISION_CACHE_ENTRIES = 100_000;
/** Most memory the decision cache takes, in MiB, when `VERDICT_DECISION_CACHE_MB` is unset. */
export const DEFAULT_DECISION_CACHE_MB = 64;

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(DEFAULT_PORT),
  HOST: z.string().min(1).default(DEFAULT_HOST),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional()
    .or(z.literal("").transform(() => undefined)),
  VERDICT_DATA_DIR: z.string().min(1).default(DEFAULT_DATA_DIR),
  VERDICT_POLICY_DIR: z.string().min(1).default(DEFAULT_POLICY_DIR),
  VERDICT_SCHEMA_DIR: z.string().min(1).default(DEFAULT_SCHEMA_DIR),
  VERDICT_ADMIN_KEY: z.string().min(16, "must be at least 16 characters").optional(),
  VERDICT_ISSUERS: z.string().optional(),
  VERDICT_ISSUERS_FILE: z.string().min(1).optional(),
  VERDICT_REQUIRE_VERIFIED: RequireVerified.default("none"),
  VERDICT_ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  VERDICT_PUBLIC_URL: PublicUrl.optional(),
  VERDICT_CREDENTIAL_TTL: z.coerce.number().int().min(1).max(60).default(60),
  // Approvals (docs/approvals.md): a request's life, and an approval's, in seconds (1 min to 1 day).
  VERDICT_APPROVAL_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(900),
  VERDICT_APPROVAL_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
  VERDICT_MASKING_FILE: z.string().min(1).optional(),
  VERDICT_RETENTION_DAYS: z.coerce.number().int().min(1).optional(),
  VERDICT_PARTITIONS_AHEAD_DAYS: z.coerce.number().int().min(1).max(366).default(7),
  // At most 5 s / 1,000 records unsigned (docs/tamper-evidence.md): larger values are refused.
  VERDICT_CHECKPOINT_SECONDS: z.coerce.number().min(1).max(5).default(5),
  VERDICT_CHECKPOINT_RECORDS: z.coerce.number().int().min(1).max(1000).default(1000),
  VERDICT_SIGNING_KEY: z.string().min(1).optional(),
  VERDICT_SIGNING_KEY_FILE: z.string().min(1).optional(),
  VERDICT_VERIFY_KEYS_FILE: z.string().min(1).optional(),
  VERDICT_WORKERS: z
    .union([z.literal("auto"), z.coerce.number().int().min(1).max(256)])
    .default(1),
  // OpenTelemetry's own names (docs/tracing.md); traces are exported only when one is set.
  OTEL_EXPORTER_OTLP_ENDPOINT: OtlpUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: OtlpUrl,
  OTEL_SDK_DISABLED: z.enum(["true", "false", ""]).optional(),
  VERDICT_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  VERDICT_METRICS_ADDR: MetricsAddr.optional(),
  VERDICT_ACCESS_LOG: z.enum(["info", "debug", "off"]).default("info"),
  VERDICT_DECISION_CACHE: z.enum(["on", "off"]).default("on"),
  VERDICT_DECISION_CACHE_ENTRIES: z.coerce.number().int().min(1).max(100_000_000).default(DEFAULT_DECISION_CACHE_ENTRIES),
  VERDICT_DECISION_CACHE_MB: z.coerce.number().int().min(1).max(1_048_576).default(DEFAULT_DECISION_CACHE_MB),
});

/** The parsed configuration. */
export interface Config {
  port: number;
  host: string;
  /** A Postgres URL, or undefined for the embedded PGlite database. */
  databaseUrl?: string;
  dataDir: string;
  policyDir: string;
  schemaDir: string;
  adminKey?: string;
  /** Trusted issuers of agent and user tokens (`VERDICT_ISSUERS` or `VERDICT_ISSUERS_FILE`). */
  issuers: IssuerConfig[];
  requireVerified: RequireVerified;
  /** `iss` of the credentials Verdict mints; undefined: {@link Config.publicUrl}'s value. */
  issuer?: string;
  /**
   * The URL Verdict is reached at (`VERDICT_PUBLIC_URL`, no trailing `/`), named in the AuthZEN
   * metadata (`/.well-known/authzen-configuration`) and the default `iss`; undefined: the address
   * it listens on, `http://<HOST>:<bound port>`. Never taken from a request's `Host` header.
   */
  publicUrl?: string;
  /** Lifetime of a per-call credential, in seconds (1-60). */
  credentialTtlSeconds: number;
  /** `VERDICT_APPROVAL_TTL_SECONDS`: how long an approval request waits, and an approval may be used (60-86,400; default 900). */
  approvalTtlSeconds: number;
  /** `VERDICT_APPROVAL_WEBHOOK_URL`: gets a POST for each new approval request (docs/approvals.md); none when unset. */
  approvalWebhookUrl?: string;
  /**
   * Server processes sharing the port (Node cluster), each with its own preparsed engine and its
   * own decision-log stream; `auto` is one per core (`os.availableParallelism()`). Default 1.
   */
  workers?: number;
  logLevel: z.infer<typeof Env>["VERDICT_LOG_LEVEL"];
  /** Argument masking rules, parsed from `VERDICT_MASKING_FILE` (see `decision-log/masking.ts`). */
  masking?: MaskingRules;
  /** Decisions older than this many days are dropped, a whole day partition at a time; kept forever when unset. */
  retentionDays?: number;
  /** How many days of partitions to create ahead of today. */
  partitionsAheadDays: number;
  /** Sign each stream's chain head at least this often (seconds, 1-5) ... */
  checkpointSeconds: number;
  /** ... and before more than this many of its decisions are unsigned (1-1,000). */
  checkpointRecords: number;
  /**
   * The ES256 key that signs checkpoints of the decision record, held outside the database
   * (`VERDICT_SIGNING_KEY`, or `VERDICT_SIGNING_KEY_FILE`: a JWK or a PEM private key); when
   * unset, checkpoints are signed with the database's own keys (weaker, see
   * docs/tamper-evidence.md).
   */
  signingKey?: ExternalSigningKey;
  /**
   * Where `verdict.decide` spans are sent (OTLP/HTTP JSON): `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
   * as given, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; undefined (neither set, or
   * `OTEL_SDK_DISABLED=true`): tracing is off.
   */
  otlpTracesUrl?: string;
  /** Public keys the verifier trusts for checkpoints (`VERDICT_VERIFY_KEYS_FILE`: a JWK, a JWKS or PEM). */
  verifyKeys?: JWK[];
  /** Where a keyless `/metrics` listener binds (`VERDICT_METRICS_ADDR`); none when unset. */
  metricsAddr?: { host: string; port: number };
  /** Level of the access log's lines, or `off` (`VERDICT_ACCESS_LOG`, default `info`). */
  accessLog?: "info" | "debug" | "off";
  /**
   * Bounds of the exact decision cache (docs/performance.md "Decision cache"): at most
   * `maxEntries` answers (`VERDICT_DECISION_CACHE_ENTRIES`, default 100,000) and `maxBytes`
   * bytes (`VERDICT_DECISION_CACHE_MB` MiB, default 64); undefined: no cache
   * (`VERDICT_DECISION_CACHE=off`).
   */
  decisionCache?: { maxEntries: number; maxBytes: number };
}

/** A variable of the environment is invalid; the message names it. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Parses the configuration from an environment.
 * @throws ConfigError naming every invalid variable
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      "invalid configuration: " + parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
    );
  }
  const e = parsed.data;
  const workers = e.VERDICT_WORKERS === "auto" ? availableParallelism() : e.VERDICT_WORKERS;
  // Each worker opens the database itself: an embedded PGlite directory has one owner.
  if (workers > 1 && !e.DATABASE_URL) {
    throw new ConfigError("invalid configuration: VERDICT_WORKERS: more than one worker needs DATABASE_URL (a Postgres server they share)");
  }
  return {
    issuers: parseIssuers(e.VERDICT_ISSUERS, e.VERDICT_ISSUERS_FILE),
    requireVerified: e.VERDICT_REQUIRE_VERIFIED,
    issuer: e.VERDICT_ISSUER,
    publicUrl: e.VERDICT_PUBLIC_URL,
    credentialTtlSeconds: e.VERDICT_CREDENTIAL_TTL,
    approvalTtlSeconds: e.VERDICT_APPROVAL_TTL_SECONDS,
    approvalWebhookUrl: e.VERDICT_APPROVAL_WEBHOOK_URL,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.VERDICT_DATA_DIR,
    policyDir: e.VERDICT_POLICY_DIR,
    schemaDir: e.VERDICT_SCHEMA_DIR,
    adminKey: e.VERDICT_ADMIN_KEY,
    workers,
    logLevel: e.VERDICT_LOG_LEVEL,
    masking: e.VERDICT_MASKING_FILE ? maskingRules(e.VERDICT_MASKING_FILE) : undefined,
    retentionDays: e.VERDICT_RETENTION_DAYS,
    partitionsAheadDays: e.VERDICT_PARTITIONS_AHEAD_DAYS,
    checkpointSeconds: e.VERDICT_CHECKPOINT_SECONDS,
    checkpointRecords: e.VERDICT_CHECKPOINT_RECORDS,
    metricsAddr: e.VERDICT_METRICS_ADDR,
    accessLog: e.VERDICT_ACCESS_LOG,
    decisionCache: e.VERDICT_DECISION_CACHE === "off" ? undefined : { maxEntries: e.VERDICT_DECISION_CACHE_ENTRIES, maxBytes: e.VERDICT_DECISION_CACHE_MB * 2 ** 20 },
    otlpTracesUrl: e.OTEL_SDK_DISABLED === "true" ? undefined : otlpTracesUrl(e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, e.OTEL_EXPORTER_OTLP_ENDPOINT),
    ...chainKeys(e.VERDICT_SIGNING_KEY, e.VERDICT_SIGNING_KEY_FILE, e.VERDICT_VERIFY_KEYS_FILE),
  };
}

/** The traces URL by the OTLP exporter specification: the signal's own as is, else the base plus `v1/traces`. */
function otlpTracesUrl(traces: string | undefined, base: string | undefined): string | undefined {
  if (traces) return traces;
  return base ? `${base.replace(/\/+$/, "")}/v1/traces` : undefined;
}

function readKeyFile(variable: string, file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(`invalid configuration: ${variable}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

/**
 * The checkpoint signing key (inline or from a file, not both) and the verifier's public keys.
 * @throws ConfigError naming the variable; the message never contains key material
 */
function chainKeys(inline: string | undefined, file: string | undefined, verifyFile: string | undefined): Pick<Config, "signingKey" | "verifyKeys"> {
  if (inline && file) throw new ConfigError("invalid configuration: set VERDICT_SIGNING_KEY or VERDICT_SIGNING_KEY_FILE, not both");
  const variable = file ? "VERDICT_SIGNING_KEY_FILE" : "VERDICT_SIGNING_KEY";
  const out: Pick<Config, "signingKey" | "verifyKeys"> = {};
  try {
    const text = file ? readKeyFile(variable, file) : inline;
    if (text) out.signingKey = parseSigningKey(text);
  } catch (e) {
    if (e instanceof KeyFormatError) throw new ConfigError(`invalid configuration: ${variable}: ${e.message}`);
    throw e;
  }
  if (verifyFile) {
    try {
      out.verifyKeys = parsePublicKeys(readKeyFile("VERDICT_VERIFY_KEYS_FILE", verifyFile));
    } catch (e) {
      if (e instanceof KeyFormatError) throw new ConfigError(`invalid configuration: VERDICT_VERIFY_KEYS_FILE: ${e.message}`);
      throw e;
    }
  }
  return out;
}

/**
 * Parses the trusted issuers: a JSON array given inline (`VERDICT_ISSUERS`) or in a file
 * (`VERDICT_ISSUERS_FILE`), never both.
 * @throws ConfigError naming the variable and the bad entry
 */
export function parseIssuers(inline: string | undefined, file: string | undefined): IssuerConfig[] {
  if (inline && file) throw new ConfigError("invalid configuration: set VERDICT_ISSUERS or VERDICT_ISSUERS_FILE, not both");
  const variable = file ? "VERDICT_ISSUERS_FILE" : "VERDICT_ISSUERS";
  let text = inline;
  if (file) {
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new ConfigError(`invalid configuration: ${variable}: cannot read ${file}: ${(e as Error).message}`);
    }
  }
  if (!text || !text.trim()) return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`invalid configuration: ${variable}: not JSON: ${(e as Error).message}`);
  }
  const parsed = z.array(IssuerConfig).safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(
      `invalid configuration: ${variable}: ` + parsed.error.issues.map((i) => `[${i.path.join(".")}]: ${i.message}`).join("; "),
    );
  }
  return parsed.data;
}

/** The `verdict` CLI's section: how its commands that talk to a running Verdict reach it. */
export interface CliConfig {
  /** `VERDICT_URL`, Verdict's base URL; undefined when unset or empty (then `--url`, else {@link DEFAULT_URL}). */
  url?: string;
  /**
   * The API key sent as `Authorization: Bearer` when `--key` is not given: `VERDICT_API_KEY`,
   * else `VERDICT_KEY` (the name the quick start once used, read with a notice), else
   * `VERDICT_ADMIN_KEY` (the server's own admin key, for a CLI beside the server).
   */
  apiKey?: string;
  /** Lines for stderr about how the environment was read (e.g. `VERDICT_KEY` used as `VERDICT_API_KEY`). */
  notices: string[];
}

/** The notice printed when the key came from `VERDICT_KEY`. */
export const VERDICT_KEY_NOTICE = "VERDICT_KEY is read as VERDICT_API_KEY; set VERDICT_API_KEY instead";

/**
 * Reads the CLI's section of an environment. Empty variables count as unset. Never throws: the
 * values are checked where they are used (a bad URL fails the request, a bad key gets a 401).
 */
export function loadCliConfig(env: Record<string, string | undefined> = process.env): CliConfig {
  const set = (name: string) => (env[name] ? env[name] : undefined);
  const notices: string[] = [];
  let apiKey = set("VERDICT_API_KEY");
  if (!apiKey && set("VERDICT_KEY")) {
    apiKey = set("VERDICT_KEY");
    notices.push(VERDICT_KEY_NOTICE);
  }
  return { url: set("VERDICT_URL"), apiKey: apiKey ?? set("VERDICT_ADMIN_KEY"), notices };
}
