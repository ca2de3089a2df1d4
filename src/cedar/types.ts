/**
 * The Cedar types Verdict speaks (Cedar's JSON formats for entities, schemas, requests and
 * policy sets), so that nothing outside `src/cedar/` needs cedar-wasm's own.
 */

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
   * engine's reason codes (`ENGINE_REASONS` of `src/contract/reasons.ts`) followed by policy ids:
   * never empty for a deny.
   */
  reasons: string[];
  errors: DecisionError[];
}

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

/** Cedar source of one policy or template, as it appears in a policy file. */
export interface PolicySource {
  text: string;
  /** Annotations (`@id("...")` and others) parsed from the policy. */
  annotations: Record<string, string>;
  isTemplate: boolean;
  /** The policy in Cedar's policy JSON form (as `policyToJson` / `templateToJson` give it). */
  json: unknown;
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
