/**
 * Answers of the HTTP API that the surfaces (`decision.ts`, `decision-log.ts`, `policy-versions.ts`,
 * `api-keys.ts`) do not already describe, as zod schemas: health, the
 * JWKS, policy-set administration, replay, tool drift and the audit endpoints. They are the
 * source of the response schemas of `GET /openapi.json` (src/http/openapi.ts), and the SDK may
 * parse answers with them. Like those modules, it imports nothing from the server side.
 * Times are ISO 8601 instants as strings, as everywhere on the wire.
 */
import { z } from "zod";
import { DecisionError, EntityUid } from "./decision.js";
import { DecisionRecord } from "./decision-log.js";
import { PolicySetSources, PolicySetVersionInfo } from "./policy-versions.js";

/** `GET /healthz` answer: the process is up. */
export const HealthResponse = z.object({ status: z.literal("ok") });

/** The decision log's counters, as `/readyz` shows them to a caller with a key. */
export const DecisionLogStatus = z.object({
  stream: z.string(),
  recorded: z.number().int(),
  failed: z.number().int(),
  refused: z.number().int(),
  batches: z.number().int(),
  largestBatch: z.number().int(),
});

/**
 * `GET /readyz` answer (200 ready, 503 not ready). Without a valid API key only `status`; with
 * one (any role) also the policy set served, the database and the decision log.
 */
export const ReadinessResponse = z.object({
  status: z.enum(["ready", "not ready"]),
  policySetVersion: z.string().nullable().optional(),
  policies: z.number().int().optional(),
  tools: z.number().int().optional(),
  database: z.object({ driver: z.string(), status: z.string() }).optional(),
  decisionLog: DecisionLogStatus.optional(),
});

/** A public JSON Web Key (RFC 7517 §4); members beyond these pass through. */
export const PublicJwk = z.looseObject({ kty: z.string(), kid: z.string().optional(), alg: z.string().optional(), use: z.string().optional() });

/** `GET /.well-known/jwks.json` answer: a JWK Set (RFC 7517 §5) of Verdict's public signing keys. */
export const JwksResponse = z.object({ keys: z.array(PublicJwk) });

/** `POST /v1/signing-keys/rotate` answer: the new key's id and the JWKS now published. */
export const SigningKeyRotated = z.object({ kid: z.string(), jwks: JwksResponse });

/** A publish or edit answer: the version, and whether it was new (201) or already published (200). */
export const PolicySetPublished = PolicySetVersionInfo.extend({ created: z.boolean() });

/** An activation of a version (the latest one is the version in force). */
export const PolicySetActivation = z.object({
  version: z.string(),
  activatedAt: z.string(),
  activatedBy: z.string().nullable(),
  reason: z.string(),
});

/** `GET /v1/policy-sets` answer: published versions, the activation in force, the version this replica serves. */
export const PolicySetList = z.object({
  versions: z.array(PolicySetVersionInfo),
  active: PolicySetActivation.nullable(),
  serving: z.string().nullable(),
});

/** `POST /v1/policy-sets/{version}/activate` and `POST /v1/policy-sets/rollback` answer. */
export const PolicySetActivated = z.object({ version: z.string(), activatedAt: z.string(), reason: z.enum(["activate", "rollback"]) });

/** A template-linked policy of a version (`links.json` items). */
export const TemplateLink = z.object({ templateId: z.string(), newId: z.string(), values: z.record(z.string(), EntityUid) });

/** `GET /v1/policy-sets/{version}` answer: the version, its policies (where each starts), links and sources. */
export const PolicySetDetail = PolicySetVersionInfo.extend({
  policies: z.array(z.object({ id: z.string(), file: z.string(), line: z.number().int(), template: z.boolean() })),
  links: z.array(TemplateLink),
  sources: PolicySetSources,
});

/** `GET /v1/policy-sets/{version}/policies` answer: the text of some policies of one version. */
export const PolicyTexts = z.object({
  version: z.string(),
  /** False when the version was loaded from files by this replica and never published. */
  stored: z.boolean(),
  active: z.boolean(),
  serving: z.boolean(),
  policies: z.array(z.object({ id: z.string(), file: z.string(), line: z.number().int(), template: z.boolean(), text: z.string() })),
  /** Ids asked for that the version does not have. */
  missing: z.array(z.string()),
});

const KeyChanges = z.object({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()) });

/** `GET /v1/policy-sets/{version}/diff` answer: changed files (unified diffs), policies and tools. */
export const VersionDiff = z.object({
  from: z.string(),
  to: z.string(),
  files: z.array(z.object({ file: z.string(), status: z.enum(["added", "removed", "changed"]), patch: z.string() })),
  policies: KeyChanges,
  tools: KeyChanges,
});

const FlipCounts = { allowToDeny: z.number().int(), denyToAllow: z.number().int() };

/** One recorded decision that the candidate version would decide differently. */
export const FlipExample = z.object({
  decisionId: z.string(),
  time: z.string(),
  agent: z.string(),
  user: z.string().nullable(),
  server: z.string(),
  tool: z.string(),
  recorded: z.object({ decision: z.enum(["allow", "deny"]), reasons: z.array(z.string()), policySetVersion: z.string() }),
  candidate: z.object({ decision: z.enum(["allow", "deny"]), reasons: z.array(z.string()), errors: z.array(DecisionError) }),
});

/** `POST /v1/policy-sets/{version}/replay` answer (as JSON; `{"report": ...}` last line when streamed). */
export const ReplayReport = z.object({
  candidate: z.string(),
  since: z.string().nullable(),
  until: z.string().nullable(),
  replayed: z.number().int(),
  unchanged: z.number().int(),
  flips: z.object(FlipCounts),
  byTool: z.array(z.object({ server: z.string(), tool: z.string(), ...FlipCounts })),
  byAgent: z.array(z.object({ agent: z.string(), ...FlipCounts })),
  examples: z.object({ allowToDeny: z.array(FlipExample), denyToAllow: z.array(FlipExample) }),
  /** Milliseconds. */
  durationMs: z.number(),
  /** Replayed decisions per second. */
  perSecond: z.number(),
});

/** One tool whose definition, as a gateway reported it, differs from the pinned one. */
export const DriftEntry = z.object({
  server: z.string(),
  tool: z.string(),
  pinnedHash: z.string(),
  reportedHash: z.string(),
  reported: z.unknown(),
  /** True while the version in force still pins `pinnedHash` for this tool. */
  open: z.boolean(),
  policySetVersion: z.string(),
  firstSeenAt: z.string(),
  lastSeenAt: z.string(),
  firstAgent: z.string(),
  seen: z.number().int(),
});

/** `GET /v1/tools/drift` answer. */
export const ToolDriftList = z.object({ drift: z.array(DriftEntry), policySetVersion: z.string() });

/** A problem the chain verifier found in a stream. */
export const ChainProblem = z.object({
  kind: z.enum(["altered", "missing", "link", "truncated", "checkpoint", "retention", "stream"]),
  seq: z.number().int(),
  decisionId: z.string().nullable(),
  message: z.string(),
});

/** What the verifier found in one stream of the decision log. */
export const StreamReport = z.object({
  stream: z.string(),
  records: z.number().int(),
  firstSeq: z.number().int().nullable(),
  lastSeq: z.number().int().nullable(),
  prunedThrough: z.number().int().nullable(),
  prunedSigned: z.boolean().nullable(),
  version: z.number().int().nullable(),
  checkpoint: z.object({ seq: z.number().int(), time: z.string(), valid: z.boolean() }).nullable(),
  heads: z.number().int(),
  unsignedRecords: z.number().int(),
  maxUnsigned: z.number().int().nullable(),
  ok: z.boolean(),
  problem: ChainProblem.nullable(),
  problems: z.array(ChainProblem),
});

/** `GET /v1/audit/verify` answer. */
export const VerifyReport = z.object({
  ok: z.boolean(),
  checkedAt: z.string(),
  streams: z.number().int(),
  records: z.number().int(),
  /** Whose keys were trusted: the configured ones (with their key ids) or the database's. */
  trust: z.object({ source: z.enum(["config", "database"]), kids: z.array(z.string()) }),
  reports: z.array(StreamReport),
});

/** `GET /v1/audit/decisions/{id}` answer: one decision, its determining policies' text and its chain status. */
export const AuditDecision = z.object({
  decision: DecisionRecord,
  /** Null file, line and text: the deciding version's sources are not stored here. */
  policies: z.array(z.object({ id: z.string(), file: z.string().nullable(), line: z.number().int().nullable(), text: z.string().nullable() })),
  policySet: z.object({ version: z.string(), activeVersion: z.string().nullable(), sameVersion: z.boolean() }),
  chain: z.object({ hashOk: z.boolean(), prevOk: z.boolean(), nextOk: z.boolean(), signed: z.boolean() }),
});

/** `GET /openapi.json` answer: an OpenAPI 3.1 document (its own schema is the OpenAPI specification's). */
export const OpenApiDocument = z.looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) });
