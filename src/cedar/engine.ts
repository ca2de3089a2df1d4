/**
 * Verdict's only door to the Cedar engine (`@cedar-policy/cedar-wasm`). Everything else in
 * Verdict speaks the small types below; nothing else imports the wasm package.
 *
 * Policies and schema are preparsed once per policy-set version (cedar-wasm's
 * `preparsePolicySet` / `preparseSchema`), and each decision then goes through
 * `statefulIsAuthorized`, which re-parses only the request, context and entity slice.
 */
import { createRequire } from "node:module";
import { setFlagsFromString } from "node:v8";
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import { actionKey, attributesRead, isActionType, planByAction, type PolicyShape } from "./action-index.js";

// Node 20 (V8 11.3) aborts the whole process ("Fatal error: unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when optimized code that inlined a call into
// cedar-wasm deoptimizes: seen within seconds of load in the server, in tests and in the
// benchmark, and in about half the runs of the 7,809-test Cedar corpus. Not inlining JS-to-Wasm
// calls avoids that frame kind (no crash since, in 20,000-request load runs and full corpus runs);
// it is set before any code calling the engine is optimized, and costs nothing measurable.
setFlagsFromString("--no-turbo-inline-js-wasm-calls");

/** A Cedar entity uid in JSON form (Cedar JSON entity format, `{"type": "Mcp::Agent", "id": "x"}`). */
export interface EntityUid {
  type: string;
  id: string;
}

/** A Cedar entity in Cedar's entity JSON format. */
export interface Entity {
  uid: EntityUid;
  attrs: Record<string, unknown>;
  parents: EntityUid[];
  tags?: Record<string, unknown>;
}

/** A Cedar schema in JSON form: namespace name to namespace definition. */
export type SchemaJson = Record<string, SchemaNamespace>;
/** One namespace of a {@link SchemaJson} (Cedar schema JSON format). */
export interface SchemaNamespace {
  commonTypes?: Record<string, CedarType>;
  entityTypes: Record<string, unknown>;
  actions: Record<string, SchemaAction>;
  annotations?: Record<string, string>;
}
/** An action declaration in Cedar schema JSON. */
export interface SchemaAction {
  memberOf?: Array<{ id: string; type?: string }>;
  appliesTo?: { principalTypes: string[]; resourceTypes: string[]; context?: CedarType };
  annotations?: Record<string, string>;
}
/** A type in Cedar schema JSON (`{"type": "String"}`, `{"type": "Record", "attributes": ...}`, ...). */
export interface CedarType {
  type: string;
  name?: string;
  element?: CedarType;
  attributes?: Record<string, CedarType & { required?: boolean }>;
  additionalAttributes?: boolean;
  required?: boolean;
}

/** One Cedar request: principal, action, resource, context (Cedar JSON values) and the entities it may see. */
export interface CedarRequest {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, unknown>;
  entities: Entity[];
}

/** An error kept with a decision: the policy it came from (null for request-level errors) and Cedar's message. */
export interface DecisionError {
  policyId: string | null;
  message: string;
}

/** What the engine answered: the decision, its determining policies (or a reason code), and its errors. */
export interface EngineDecision {
  decision: "allow" | "deny";
  /**
   * Determining policies (Cedar `diagnostics.reason`), or, under Verdict's semantics, one of the
   * reason codes below followed by policy ids: never empty for a deny.
   */
  reasons: string[];
  errors: DecisionError[];
}

/**
 * Reason of a deny made because a `forbid` errored (Cedar would have skipped it); the errored
 * forbids' ids follow it in `reasons`, sorted. See {@link PreparedEngine.authorize}.
 */
export const FORBID_ERRORED = "verdict:forbid-errored";
/** Reason of a deny that no policy determined: no permit was satisfied (Cedar's default deny). */
export const NO_PERMIT = "verdict:no-permit";
/** Reason of a deny because Cedar could not evaluate the request at all (invalid request, context or entities). */
export const EVALUATION_FAILED = "verdict:evaluation-failed";
/** The reason codes the engine itself gives (as opposed to Verdict's checks before Cedar). */
export const ENGINE_REASONS: ReadonlySet<string> = new Set([FORBID_ERRORED, NO_PERMIT, EVALUATION_FAILED]);

/**
 * Which rules decide.
 * - `verdict` (the default, every decision Verdict serves): fail closed. When a policy that
 *   errored is a `forbid` (or a policy whose effect the engine does not know), the answer is
 *   `deny`; an errored `permit` does not count (Cedar's rule); a deny always has a reason.
 * - `cedar`: Cedar's own answer unchanged (an erroring forbid is skipped, so a permit can still
 *   allow; a default deny has no reasons). Only the Cedar conformance runner uses it.
 */
export type EngineSemantics = "verdict" | "cedar";

/** A problem found while parsing or validating Cedar sources. */
export interface CedarIssue {
  policyId?: string;
  message: string;
  help?: string | null;
  /** Byte offsets into the policy's own text, when Cedar gives them. */
  start?: number;
  end?: number;
}

/** Thrown when Cedar text or JSON cannot be parsed. `issues` lists what Cedar said. */
export class CedarParseError extends Error {
  constructor(
    message: string,
    readonly issues: CedarIssue[],
  ) {
    super(message);
    this.name = "CedarParseError";
  }
}

type Detailed = { message: string; help?: string | null; sourceLocations?: Array<{ start: number; end: number }> };

function toIssues(errors: Detailed[], policyId?: string): CedarIssue[] {
  return errors.map((e) => ({
    policyId,
    message: e.message,
    help: e.help ?? null,
    start: e.sourceLocations?.[0]?.start,
    end: e.sourceLocations?.[0]?.end,
  }));
}

/** The Cedar language and SDK version in use (e.g. `4.13.0`). */
export function cedarVersion(): string {
  return cedar.getCedarVersion();
}

/**
 * Converts a schema in Cedar's human-readable syntax to Cedar schema JSON.
 * @throws CedarParseError with Cedar's messages when the text does not parse
 */
export function schemaTextToJson(text: string): SchemaJson {
  const answer = cedar.schemaToJson(text);
  if (answer.type === "failure") throw new CedarParseError("schema does not parse", toIssues(answer.errors));
  return answer.json as unknown as SchemaJson;
}

/** Cedar source of one policy or template, as it appears in a policy file. */
export interface PolicySource {
  text: string;
  /** Annotations (`@id("...")` and others) parsed from the policy. */
  annotations: Record<string, string>;
  isTemplate: boolean;
  /** The policy in Cedar's policy JSON form (as `policyToJson` / `templateToJson` give it). */
  json: unknown;
}

/**
 * Policy files of at least this many characters (256 Ki, about 1,300 policies) are split in a
 * short-lived worker thread (see {@link policySetTextToPartsInWorker}).
 */
export const SPLIT_IN_WORKER_CHARS = 256 * 1024;
/** How long a load waits for the split worker before it fails, in ms. */
const SPLIT_WORKER_TIMEOUT_MS = 120_000;

/**
 * The split worker, as an eval'd CommonJS script so that it runs the same under tsx, vitest and
 * compiled JavaScript (a worker file would need each one's loader). It loads its own instance of
 * cedar-wasm's Node build, splits, posts the answer and wakes the waiting thread.
 */
const SPLIT_WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { cedarPath, text, port, signal } = workerData;
let answer;
try {
  answer = require(cedarPath).policySetTextToParts(text);
} catch (e) {
  answer = { type: "failure", errors: [{ message: "the policy split worker failed: " + String(e) }] };
}
port.postMessage(answer);
Atomics.store(signal, 0, 1);
Atomics.notify(signal, 0);
`;

/**
 * cedar-wasm's `policySetTextToParts`, run in a worker thread that is then ended. Why: parsing a
 * file of 10,000 policies (2 MiB) grows the engine's wasm memory by about 113 MiB, and wasm
 * memory never shrinks, so the serving process would keep that peak for its lifetime (measured
 * by `npm run bench:engine`). The worker's wasm instance, and its memory, go with the worker;
 * the serving process then only holds the preparsed policies. Synchronous like the rest of the
 * load: the calling thread blocks (`Atomics.wait`) until the worker answers.
 * @returns the same answer as `policySetTextToParts`; a failure when the worker fails or does
 *   not answer within 120 s
 */
function policySetTextToPartsInWorker(text: string): cedar.PolicySetTextToPartsAnswer {
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const cedarPath = createRequire(import.meta.url).resolve("@cedar-policy/cedar-wasm/nodejs");
  const worker = new Worker(SPLIT_WORKER_SOURCE, { eval: true, workerData: { cedarPath, text, port: port2, signal }, transferList: [port2] });
  try {
    Atomics.wait(signal, 0, 0, SPLIT_WORKER_TIMEOUT_MS);
    const received = receiveMessageOnPort(port1);
    if (!received) {
      const message = `the policy split worker did not answer within ${SPLIT_WORKER_TIMEOUT_MS / 1000} s`;
      return { type: "failure", errors: [{ message, help: null, code: null, url: null, severity: null }] };
    }
    return received.message as cedar.PolicySetTextToPartsAnswer;
  } finally {
    port1.close();
    void worker.terminate();
  }
}

/**
 * Splits the text of one `.cedar` file into its policies and templates, in file order.
 * @param options.inWorker split in a short-lived worker thread (default: when the text has at
 *   least {@link SPLIT_IN_WORKER_CHARS} characters); the answer is the same either way
 * @throws CedarParseError naming Cedar's parse errors (offsets are into `text`)
 */
export function splitPolicies(text: string, options: { inWorker?: boolean } = {}): PolicySource[] {
  const inWorker = options.inWorker ?? text.length >= SPLIT_IN_WORKER_CHARS;
  const parts = inWorker ? policySetTextToPartsInWorker(text) : cedar.policySetTextToParts(text);
  if (parts.type === "failure") throw new CedarParseError("policies do not parse", toIssues(parts.errors));
  const out: PolicySource[] = [];
  for (const [list, isTemplate] of [
    [parts.policies, false],
    [parts.policy_templates, true],
  ] as const) {
    for (const p of list) {
      const json = isTemplate ? cedar.templateToJson(p) : cedar.policyToJson(p);
      if (json.type === "failure") throw new CedarParseError("policy does not parse", toIssues(json.errors));
      out.push({ text: p, annotations: (json.json.annotations ?? {}) as Record<string, string>, isTemplate, json: json.json });
    }
  }
  return out;
}

/** A template link: a template id, the new policy id, and the slot values (`?principal`, `?resource`). */
export interface TemplateLink {
  templateId: string;
  newId: string;
  values: Record<string, EntityUid>;
}

/** A policy set as Cedar takes it: static policies and templates by id, and template links. */
export interface PolicySetInput {
  policies: Record<string, string>;
  templates?: Record<string, string>;
  links?: TemplateLink[];
}

function toCedarPolicySet(set: PolicySetInput): cedar.PolicySet {
  return {
    staticPolicies: set.policies,
    templates: set.templates ?? {},
    templateLinks: (set.links ?? []).map((l) => ({ templateId: l.templateId, newId: l.newId, values: l.values })),
  };
}

/**
 * Validates a policy set against a schema in Cedar's strict mode.
 * @returns the validation errors (empty when the set is valid) and warnings
 * @throws CedarParseError when the schema or the policies do not parse at all
 */
export function validatePolicySet(schema: SchemaJson, set: PolicySetInput): { errors: CedarIssue[]; warnings: CedarIssue[] } {
  const answer = cedar.validate({
    schema: schema as cedar.Schema,
    policies: toCedarPolicySet(set),
    validationSettings: { mode: "strict" },
  });
  if (answer.type === "failure") throw new CedarParseError("policy set cannot be validated", toIssues(answer.errors));
  const errors = answer.validationErrors.flatMap((e) => toIssues([e.error], e.policyId));
  const warnings = [
    ...answer.validationWarnings.flatMap((e) => toIssues([e.error], e.policyId)),
    ...toIssues(answer.otherWarnings),
  ];
  return { errors, warnings };
}

/**
 * Checks entities against a schema (types, attributes, parents), as Cedar would at evaluation.
 * @returns Cedar's issues; empty when the entities are valid
 */
export function checkEntities(schema: SchemaJson, entities: Entity[]): CedarIssue[] {
  const answer = cedar.checkParseEntities({ entities: entities as cedar.Entities, schema: schema as cedar.Schema });
  return answer.type === "failure" ? toIssues(answer.errors) : [];
}

/**
 * Checks that a context is valid for an action under a schema.
 * @returns Cedar's issues; empty when the context is valid
 */
export function checkContext(schema: SchemaJson, action: EntityUid, context: Record<string, unknown>): CedarIssue[] {
  const answer = cedar.checkParseContext({ context: context as cedar.Context, schema: schema as cedar.Schema, action });
  return answer.type === "failure" ? toIssues(answer.errors) : [];
}

let engineCounter = 0;

/** Options of {@link PreparedEngine}. */
export interface PreparedEngineOptions {
  /**
   * Route each request to the policies its action can match and a schema reduced to that action
   * (default true; see `engine/action-index.ts`). Off, every request goes to the whole set and
   * schema: the plain path, which the fast path must always agree with.
   */
  actionIndex?: boolean;
  /**
   * The JSON form of policies and templates by id, when the caller already has it (from
   * {@link splitPolicies}): converting 10,000 policies again costs seconds.
   */
  policyJson?: ReadonlyMap<string, unknown>;
  /**
   * The engine's cache entry inside cedar-wasm. cedar-wasm keeps every preparsed set and schema
   * for the life of the process and offers no way to free one, so a one-shot tool that builds
   * thousands of throwaway engines (the Cedar conformance runner) gives them one shared slot:
   * building an engine in a slot replaces the previous engine of that slot, which must no
   * longer be used. Omitted, each engine gets an entry of its own (a policy set per version).
   */
  slot?: string;
  /**
   * `verdict` (default): fail closed on an erroring forbid; `cedar`: Cedar's own semantics, for
   * the Cedar conformance runner only (see {@link EngineSemantics}).
   */
  semantics?: EngineSemantics;
}

/** Options of one {@link PreparedEngine.authorize} call. */
export interface AuthorizeOptions {
  /**
   * Validate the request (principal, action, resource types and context) against the schema
   * before evaluating it. Defaults to true when the engine has a schema; false is for callers
   * that replay requests Cedar itself evaluated without validation (Cedar's conformance tests).
   */
  validateRequest?: boolean;
}

/** The request's parts as cedar-wasm's calls take them. */
function requestFields(request: CedarRequest) {
  return {
    principal: request.principal,
    action: request.action,
    resource: request.resource,
    context: request.context as cedar.Context,
    entities: request.entities as cedar.Entities,
  };
}

/**
 * A request the engine could not evaluate: a deny (fail closed) carrying the messages, no policy
 * named; `verdict:evaluation-failed` as its reason unless Cedar's own semantics are asked for.
 */
function failedEvaluation(messages: string[], semantics: EngineSemantics): EngineDecision {
  return { decision: "deny", reasons: semantics === "cedar" ? [] : [EVALUATION_FAILED], errors: messages.map((message) => ({ policyId: null, message })) };
}

/**
 * Verdict's rule over Cedar's answer (DESIGN.md "Fail closed, whatever Cedar does"):
 * - a policy that errored and is not known to be a permit is a forbid that could not say no, so
 *   the answer is `deny` with {@link FORBID_ERRORED} and those policies' ids (sorted), errors kept;
 *   unless Cedar already denied because a forbid was satisfied: that forbid determined the deny
 *   whatever the errored one would have said, and stays the reason;
 * - an errored permit is not counted (Cedar's own rule);
 * - a deny that no policy determined names {@link NO_PERMIT}, so `reasons` is never empty.
 * Cedar's answers are `allow` only when some permit is satisfied and no forbid is, so `allow`
 * with an errored forbid is exactly the case cedar-policy/cedar#2428 lets through.
 */
function failClosed<D extends "allow" | "deny" | null>(
  decision: D,
  reasons: string[],
  errors: DecisionError[],
  permits: ReadonlySet<string>,
): { decision: D | "deny"; reasons: string[]; errors: DecisionError[] } {
  const errored = new Set<string>();
  for (const e of errors) if (e.policyId !== null && !permits.has(e.policyId)) errored.add(e.policyId);
  if (errored.size && !(decision === "deny" && reasons.length)) return { decision: "deny", reasons: [FORBID_ERRORED, ...[...errored].sort()], errors };
  if (decision === "deny" && reasons.length === 0) return { decision, reasons: [NO_PERMIT], errors };
  return { decision, reasons, errors };
}

/** Where one action's requests go: preparsed policy set and schema names inside cedar-wasm. */
interface Route {
  policySetId: string;
  schemaName: string;
  /** Attribute names the route's policies read; null when they may observe a whole context. */
  reads: ReadonlySet<string> | null;
}

/** Whether a Cedar JSON value contains an action entity uid (`{"__entity": {"type": "...::Action"}}`). */
function mentionsAction(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== "object" || depth > 64) return false;
  if (Array.isArray(value)) {
    for (const v of value) if (mentionsAction(v, depth + 1)) return true;
    return false;
  }
  const obj = value as Record<string, unknown>;
  const e = obj.__entity as { type?: unknown } | undefined;
  if (e && typeof e.type === "string" && isActionType(e.type)) return true;
  for (const k in obj) if (mentionsAction(obj[k], depth + 1)) return true;
  return false;
}

/**
 * A request that names an action entity other than in its `action` field (an action entity in
 * `entities`, or an action uid in the context or in attributes) is checked by Cedar against
 * every action of the schema; it takes the plain path so that its answer cannot change.
 */
function needsFullSchema(request: CedarRequest): boolean {
  for (const e of request.entities) {
    if (isActionType(e.uid.type)) return true;
    for (const p of e.parents) if (isActionType(p.type)) return true;
    if (mentionsAction(e.attrs) || (e.tags && mentionsAction(e.tags))) return true;
  }
  return mentionsAction(request.context);
}

/**
 * A policy set and its schema, preparsed once inside the wasm engine. Build one per policy-set
 * version; every decision of that version goes through {@link PreparedEngine.authorize}.
 *
 * With a schema, each declared action also gets its own preparsed subset of the policies (those
 * whose scope can match it) and its own reduced schema, so the cost of a decision does not grow
 * with policies or tools it cannot concern. Requests for undeclared actions, requests without a
 * schema and requests that name other action entities use the whole set.
 */
export class PreparedEngine {
  private readonly key: string;
  private readonly routes = new Map<string, Route>();
  /** Which rules decide (see {@link EngineSemantics}). */
  readonly semantics: EngineSemantics;
  /**
   * Ids of the policies and template links whose effect is `permit`. Any other policy that
   * errors is treated as a forbid, so a policy whose effect could not be read fails closed.
   */
  private readonly permits = new Set<string>();

  /**
   * @param schema the full schema (base types plus tool actions); null for schema-less sets
   * @param set the policy set; it must already have passed {@link validatePolicySet}
   * @param options `slot`: share one cache entry (see {@link PreparedEngineOptions})
   * @throws CedarParseError when Cedar cannot preparse the schema or the policies
   */
  constructor(
    readonly schema: SchemaJson | null,
    readonly set: PolicySetInput,
    options: PreparedEngineOptions = {},
  ) {
    this.key = options.slot === undefined ? `pset-${++engineCounter}` : `slot-${options.slot}`;
    this.semantics = options.semantics ?? "verdict";
    const index = schema !== null && options.actionIndex !== false;
    // Shapes (the policies' JSON form) serve the action index and tell each policy's effect.
    const shapes = index || this.semantics === "verdict" ? this.policyShapes(options.policyJson) : null;
    if (shapes && this.semantics === "verdict") for (const [id, shape] of shapes.shapes) if (shape.effect === "permit") this.permits.add(id);
    if (index && shapes?.complete) this.indexByAction(schema, shapes.shapes);
    // With routes, the whole set and schema serve only the rare request that needs them: they are
    // preparsed on first use, which keeps a second copy of a large set out of the wasm memory.
    if (this.routes.size === 0) this.preparseWhole();
  }

  private wholePreparsed = false;

  /** Preparses the whole set (and schema) for the plain path. @throws CedarParseError */
  private preparseWhole(): void {
    if (this.wholePreparsed) return;
    if (this.schema) {
      const s = cedar.preparseSchema(this.key, this.schema as cedar.Schema);
      if (s.type === "failure") throw new CedarParseError("schema cannot be preparsed", toIssues(s.errors));
    }
    const p = cedar.preparsePolicySet(this.key, toCedarPolicySet(this.set));
    if (p.type === "failure") throw new CedarParseError("policy set cannot be preparsed", toIssues(p.errors));
    this.wholePreparsed = true;
  }

  /** Number of actions with their own route (the fast path); 0 when every request takes the whole set. */
  get indexedActions(): number {
    return this.routes.size;
  }

  /**
   * The attribute names (`.name`, `has name`) read by the policies that can apply to requests of
   * `action`; null when unknown (the action has no route) or when one of them may observe
   * `context` or `context.input` as a whole. Policies cannot see an attribute they never name, so
   * a caller whose request is valid for the schema may leave out of `context.input` and of the
   * entities' attributes any optional attribute not in this set (and shrink a required one to
   * an empty value of its type) without changing the answer: the wasm engine converts every
   * value it is handed, so a leaner request is a cheaper one.
   */
  attributesRead(action: EntityUid): ReadonlySet<string> | null {
    return this.routes.get(actionKey(action.type, action.id))?.reads ?? null;
  }

  /**
   * The JSON form of every policy, template and template link (a link has its template's), from
   * `known` where given, else converted by Cedar.
   * @returns the shapes found, and whether every one was found
   */
  private policyShapes(known: ReadonlyMap<string, unknown> = new Map()): { shapes: Map<string, PolicyShape>; complete: boolean } {
    const shapes = new Map<string, PolicyShape>();
    const templateShapes = new Map<string, PolicyShape>();
    let complete = true;
    const shapeOf = (id: string, text: string, template: boolean): PolicyShape | null => {
      const given = known.get(id);
      if (given) return given as PolicyShape;
      const json = template ? cedar.templateToJson(text) : cedar.policyToJson(text);
      return json.type === "failure" ? null : (json.json as unknown as PolicyShape);
    };
    for (const [id, text] of Object.entries(this.set.policies)) {
      const shape = shapeOf(id, text, false);
      if (shape) shapes.set(id, shape);
      else complete = false;
    }
    for (const [id, text] of Object.entries(this.set.templates ?? {})) {
      const shape = shapeOf(id, text, true);
      if (!shape) {
        complete = false;
        continue;
      }
      templateShapes.set(id, shape);
      shapes.set(id, shape);
    }
    for (const link of this.set.links ?? []) {
      const shape = templateShapes.get(link.templateId);
      if (shape) shapes.set(link.newId, shape);
      else complete = false;
    }
    return { shapes, complete };
  }

  private indexByAction(schema: SchemaJson, shapes: Map<string, PolicyShape>): void {
    const buckets = new Map<string, { id: string; reads: ReadonlySet<string> | null }>();
    let n = 0;
    for (const [key, plan] of planByAction(schema, shapes)) {
      if (!plan) continue;
      const bucketKey = plan.policyIds.join("\n");
      let bucket = buckets.get(bucketKey);
      if (!bucket) {
        const ids = new Set(plan.policyIds);
        const subset: PolicySetInput = {
          policies: Object.fromEntries(Object.entries(this.set.policies).filter(([id]) => ids.has(id))),
          templates: Object.fromEntries(Object.entries(this.set.templates ?? {}).filter(([id]) => ids.has(id))),
          links: (this.set.links ?? []).filter((l) => ids.has(l.newId)),
        };
        const id = `${this.key}/p${buckets.size}`;
        if (cedar.preparsePolicySet(id, toCedarPolicySet(subset)).type === "failure") continue;
        bucket = { id, reads: attributesRead(plan.policyIds.map((p) => shapes.get(p)!.conditions)) };
        buckets.set(bucketKey, bucket);
      }
      const schemaName = `${this.key}/s${n++}`;
      if (cedar.preparseSchema(schemaName, plan.schema as cedar.Schema).type === "failure") continue;
      this.routes.set(key, { policySetId: bucket.id, schemaName, reads: bucket.reads });
    }
  }

  /**
   * Evaluates one request. Never throws and never allows on failure: an engine failure
   * (an invalid request, context or entity) is a deny that keeps Cedar's messages as errors
   * (reason `verdict:evaluation-failed`). Under Verdict's semantics (the default) a forbid that
   * errors denies (`verdict:forbid-errored` and its id) and a deny no policy determined names
   * `verdict:no-permit`, on the routed (fast) path and the whole-set (plain) path alike; see
   * {@link EngineSemantics}. The request is validated against the schema when there is one,
   * unless `options.validateRequest` is false. Reasons are sorted (after a reason code), and
   * policy errors ordered by policy id, so the same request always gets the same answer.
   */
  authorize(request: CedarRequest, options: AuthorizeOptions = {}): EngineDecision {
    const route = this.routes.size ? this.routes.get(actionKey(request.action.type, request.action.id)) : undefined;
    const useRoute = route !== undefined && !needsFullSchema(request);
    let answer: cedar.AuthorizationAnswer;
    try {
      if (!useRoute) this.preparseWhole();
      answer = cedar.statefulIsAuthorized({
        ...requestFields(request),
        preparsedPolicySetId: useRoute ? route.policySetId : this.key,
        preparsedSchemaName: useRoute ? route.schemaName : this.schema ? this.key : undefined,
        validateRequest: this.schema !== null && options.validateRequest !== false,
      });
    } catch (e) {
      return failedEvaluation([`engine failure: ${String(e)}`], this.semantics);
    }
    if (answer.type === "failure") return failedEvaluation(answer.errors.map((e) => e.message), this.semantics);
    const { decision, diagnostics } = answer.response;
    const reasons = diagnostics.reason.length > 1 ? [...diagnostics.reason].sort() : diagnostics.reason;
    const errors = diagnostics.errors
      .map((e) => ({ policyId: e.policyId, message: e.error.message }))
      .sort((a, b) => (a.policyId < b.policyId ? -1 : a.policyId > b.policyId ? 1 : 0));
    if (this.semantics === "cedar") return { decision, reasons, errors };
    return failClosed(decision, reasons, errors, this.permits);
  }

  /**
   * Partial evaluation (Cedar `isAuthorizedPartial`) with some context values unknown
   * (`{"__extn": {"fn": "unknown", "arg": name}}`). The schema is not passed, because Cedar
   * rejects unknowns during request validation; callers must therefore include the action's
   * entity and its action groups in `request.entities`.
   *
   * Under Verdict's semantics the fail-closed rule of {@link authorize} applies: Cedar reports a
   * policy as errored here only when its known part errors, which then errors whatever the
   * unknowns turn out to be, so an errored forbid makes every completion of the request a deny
   * (`deny`, `verdict:forbid-errored` and its id). A forbid whose error depends on the unknowns
   * stays a residual (`null`): some values decide without error.
   * @returns `allow` or `deny` when the known part decides, `null` when the answer depends on
   *   the unknowns; with the policies that are or may be determining (a reason code first
   *   when the engine decided a deny itself)
   */
  authorizePartial(request: CedarRequest): { decision: "allow" | "deny" | null; reasons: string[]; errors: DecisionError[] } {
    let answer: cedar.PartialAuthorizationAnswer;
    try {
      answer = cedar.isAuthorizedPartial({
        ...requestFields(request),
        policies: toCedarPolicySet(this.set),
      });
    } catch (e) {
      return failedEvaluation([`engine failure: ${String(e)}`], this.semantics);
    }
    if (answer.type === "failure") return failedEvaluation(answer.errors.map((e) => e.message), this.semantics);
    const r = answer.response;
    const reasons = [...(r.decision === null ? r.mayBeDetermining : r.mustBeDetermining)].sort();
    const errors = [...r.errored].sort().map((id) => ({ policyId: id, message: "policy errored during partial evaluation" }));
    if (this.semantics === "cedar") return { decision: r.decision, reasons, errors };
    return failClosed(r.decision, reasons, errors, this.permits);
  }
}
