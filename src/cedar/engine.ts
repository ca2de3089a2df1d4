/**
 * The prepared engine: a policy set and its schema preparsed once inside cedar-wasm
 * (`preparsePolicySet` / `preparseSchema`), each decision then going through
 * `statefulIsAuthorized`, which re-parses only the request, context and entity slice; and
 * Verdict's fail-closed rule over Cedar's answer (DESIGN.md "Fail closed, whatever Cedar does";
 * the reason codes are those of `src/contract/reasons.ts`).
 */
import { REASONS } from "../contract/reasons.js";
import { actionKey, attributesRead, contextValuesObserved, isActionType, planByAction, type PolicyShape } from "./action-index.js";
import { decisionKey, type DecisionCache } from "./decision-cache.js";
import {
  CedarParseError,
  type CedarRequest,
  type DecisionError,
  type EngineDecision,
  type EngineSemantics,
  type EntityUid,
  type PolicySetInput,
  type SchemaJson,
} from "./types.js";
import { cedar, toCedarPolicySet, toIssues } from "./wasm.js";

/** The Cedar language and SDK version in use (e.g. `4.13.0`). */
export function cedarVersion(): string {
  return cedar.getCedarVersion();
}

let engineCounter = 0;
/** Numbers each engine, so its decision-cache keys are its own even when engines share a slot. */
let engineInstances = 0;

/** Options of {@link PreparedEngine}. */
export interface PreparedEngineOptions {
  /**
   * Route each request to the policies its action can match and a schema reduced to that action
   * (default true; see `./action-index.ts`). Off, every request goes to the whole set and
   * schema: the plain path, which the fast path must always agree with.
   */
  actionIndex?: boolean;
  /**
   * The JSON form of policies and templates by id, when the caller already has it (from
   * `splitPolicies`): converting 10,000 policies again costs seconds.
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
  /**
   * The request was built by Verdict for a tool call and is valid for the schema by construction
   * (arguments converted from the pinned inputSchema, `context.session` set by Verdict, entities
   * validated at load), so the decision cache, when the engine has one
   * ({@link PreparedEngine.useDecisionCache}), may answer it, keyed on what the applicable
   * policies can read (`decisionKey`, `./decision-cache.ts`). Default false: not cached (an
   * attribute no policy reads can still fail the validation of a request from elsewhere).
   */
  cacheable?: boolean;
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
  return { decision: "deny", reasons: semantics === "cedar" ? [] : [REASONS.evaluationFailed], errors: messages.map((message) => ({ policyId: null, message })) };
}

/**
 * Verdict's rule over Cedar's answer (DESIGN.md "Fail closed, whatever Cedar does"):
 * - a policy that errored and is not known to be a permit is a forbid that could not say no, so
 *   the answer is `deny` with `verdict:forbid-errored` and those policies' ids (sorted), errors kept;
 *   unless Cedar already denied because a forbid was satisfied: that forbid determined the deny
 *   whatever the errored one would have said, and stays the reason;
 * - an errored permit is not counted (Cedar's own rule);
 * - a deny that no policy determined names `verdict:no-permit`, so `reasons` is never empty.
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
  if (errored.size && !(decision === "deny" && reasons.length)) return { decision: "deny", reasons: [REASONS.forbidErrored, ...[...errored].sort()], errors };
  if (decision === "deny" && reasons.length === 0) return { decision, reasons: [REASONS.noPermit], errors };
  return { decision, reasons, errors };
}

/** Where one action's requests go: preparsed policy set and schema names inside cedar-wasm. */
interface Route {
  policySetId: string;
  schemaName: string;
  /** Attribute names the route's policies read; null when they may observe a whole context. */
  reads: ReadonlySet<string> | null;
  /** Context paths the route's policies may observe as a whole (`contextValuesObserved`). */
  observed: ReadonlySet<string>;
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
  /** This engine's own prefix of decision-cache keys (see {@link useDecisionCache}). */
  private readonly scope = `e${++engineInstances}`;
  private decisionCache: DecisionCache | null = null;
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
   * @param set the policy set; it must already have passed `validatePolicySet`
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
    const buckets = new Map<string, { id: string; reads: ReadonlySet<string> | null; observed: ReadonlySet<string> }>();
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
        const conditions = plan.policyIds.map((p) => shapes.get(p)!.conditions);
        bucket = { id, reads: attributesRead(conditions), observed: contextValuesObserved(conditions) };
        buckets.set(bucketKey, bucket);
      }
      const schemaName = `${this.key}/s${n++}`;
      if (cedar.preparseSchema(schemaName, plan.schema as cedar.Schema).type === "failure") continue;
      this.routes.set(key, { policySetId: bucket.id, schemaName, reads: bucket.reads, observed: bucket.observed });
    }
  }

  /**
   * Answers the requests that ask for it (`cacheable`) from `cache` from now on; null: no cache.
   * The cache may be shared with other engines (every engine keys its own answers apart, so
   * versions never share one). Only requests of an action with its own route, validated against
   * the schema, whose applicable policies do not observe `context` or `context.input` as a whole,
   * are cached; the others are always evaluated.
   */
  useDecisionCache(cache: DecisionCache | null): void {
    this.decisionCache = cache;
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
   *
   * With `options.cacheable` and a decision cache ({@link useDecisionCache}), the answer comes
   * from the cache when an identical key was evaluated by this engine before, and is kept
   * there otherwise; the answer is the same either way (an engine failure that threw is never
   * kept, and a key that cannot be built, or a failing cache, means the request is evaluated).
   */
  authorize(request: CedarRequest, options: AuthorizeOptions = {}): EngineDecision {
    const route = this.routes.size ? this.routes.get(actionKey(request.action.type, request.action.id)) : undefined;
    const useRoute = route !== undefined && !needsFullSchema(request);
    const cache = options.cacheable && useRoute && route.reads && this.schema !== null && options.validateRequest !== false ? this.decisionCache : null;
    let key: string | undefined;
    if (cache) {
      try {
        key = decisionKey(this.scope, request, { reads: route!.reads!, observed: route!.observed });
      } catch {
        cache.failed();
      }
      const hit = key === undefined ? undefined : cache.get(key);
      if (hit) return hit;
    }
    const decided = this.evaluate(request, useRoute ? route : undefined, options);
    if (cache && key !== undefined && decided.kept) cache.set(key, decided.answer);
    return decided.answer;
  }

  /**
   * {@link authorize} without the cache: Cedar's answer on `route` (the whole set when none),
   * and whether it may be kept (false when the engine threw: a failure that may not recur).
   */
  private evaluate(request: CedarRequest, route: Route | undefined, options: AuthorizeOptions): { answer: EngineDecision; kept: boolean } {
    const useRoute = route !== undefined;
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
      return { answer: failedEvaluation([`engine failure: ${String(e)}`], this.semantics), kept: false };
    }
    if (answer.type === "failure") return { answer: failedEvaluation(answer.errors.map((e) => e.message), this.semantics), kept: true };
    const { decision, diagnostics } = answer.response;
    const reasons = diagnostics.reason.length > 1 ? [...diagnostics.reason].sort() : diagnostics.reason;
    const errors = diagnostics.errors
      .map((e) => ({ policyId: e.policyId, message: e.error.message }))
      .sort((a, b) => (a.policyId < b.policyId ? -1 : a.policyId > b.policyId ? 1 : 0));
    if (this.semantics === "cedar") return { answer: { decision, reasons, errors }, kept: true };
    return { answer: failClosed(decision, reasons, errors, this.permits), kept: true };
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
