/**
 * Lean requests for the engine. cedar-wasm converts every value it is handed on every call
 * (measured: leaving out a read tool's unread arguments and the entities' unread attributes
 * halves the engine's cost), yet policies can only see an attribute they name. So for a request
 * Verdict built itself and knows to be valid for the schema (arguments converted from the pinned
 * inputSchema, entities validated at load), the engine gets only what the applicable policies
 * can read (`PreparedEngine.attributesRead`); the decision record keeps the full request.
 */
import type { InputType } from "../catalog/tool-schema.js";
import type { CedarRequest, Entity, SchemaJson } from "../cedar/types.js";

/**
 * The smallest value of a type that a policy that never names it cannot tell from the real one:
 * optional attributes go, unread required ones become empty.
 */
function emptied(type: InputType, value: unknown): unknown {
  switch (type.kind) {
    case "string":
      return "";
    case "set":
      return [];
    case "record": {
      const out: Record<string, unknown> = {};
      const obj = value as Record<string, unknown>;
      for (const [k, attr] of Object.entries(type.attributes)) if (attr.required && k in obj) out[k] = emptied(attr.type, obj[k]);
      return out;
    }
    default:
      // Long, Bool, extension and entity values are small; keep them exact.
      return value;
  }
}

/**
 * `context.input` with only the attributes some applicable policy reads; the others are left
 * out (optional) or emptied (required), so the value still has the tool's input type.
 * @param type the tool's input type; `value` must already conform to it (`toCedarValue`)
 */
function leanInput(type: InputType, value: unknown, reads: ReadonlySet<string>): unknown {
  if (type.kind !== "record" || value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const attr = type.attributes[k];
    if (!attr || reads.has(k)) out[k] = v;
    else if (attr.required) out[k] = emptied(attr.type, v);
  }
  return out;
}

/** Required attribute names of each entity type whose shape is an inline record, by qualified type name. */
function requiredAttributes(schema: SchemaJson): Map<string, Set<string> | null> {
  const out = new Map<string, Set<string> | null>();
  for (const [ns, def] of Object.entries(schema)) {
    for (const [name, decl] of Object.entries(def.entityTypes)) {
      const shape = (decl as { shape?: { type?: string; attributes?: Record<string, { required?: boolean }> } }).shape;
      const type = ns ? `${ns}::${name}` : name;
      if (!shape) out.set(type, new Set());
      // a shape given by a common type name: not worth resolving here, keep every attribute
      else if (shape.type !== "Record" || !shape.attributes) out.set(type, null);
      else out.set(type, new Set(Object.entries(shape.attributes).filter(([, a]) => a.required !== false).map(([k]) => k)));
    }
  }
  return out;
}

const requiredBySchema = new WeakMap<SchemaJson, Map<string, Set<string> | null>>();
const leanBySet = new WeakMap<ReadonlySet<string>, WeakMap<Entity, Entity>>();

/**
 * The entities without the optional attributes no applicable policy reads. Results are cached
 * per (reads, entity), so store entities are trimmed once, not per request.
 * @param entities entities valid for `schema` (the store's, validated at load)
 */
function leanEntities(schema: SchemaJson, entities: Entity[], reads: ReadonlySet<string>): Entity[] {
  let required = requiredBySchema.get(schema);
  if (!required) requiredBySchema.set(schema, (required = requiredAttributes(schema)));
  let cache = leanBySet.get(reads);
  if (!cache) leanBySet.set(reads, (cache = new WeakMap()));
  return entities.map((e) => {
    const cached = cache.get(e);
    if (cached) return cached;
    const keep = required.get(e.uid.type);
    let lean = e;
    if (keep !== null && keep !== undefined && Object.keys(e.attrs).some((k) => !reads.has(k) && !keep.has(k))) {
      const attrs: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(e.attrs)) if (reads.has(k) || keep.has(k)) attrs[k] = v;
      lean = { ...e, attrs };
    }
    cache.set(e, lean);
    return lean;
  });
}

/**
 * The lean form of a tool-call request Verdict built itself: `context.input` and the entities'
 * attributes reduced to what the applicable policies read. `context.session` is kept whole.
 */
export function leanToolCallRequest(schema: SchemaJson, inputType: InputType, request: CedarRequest, reads: ReadonlySet<string>): CedarRequest {
  return {
    ...request,
    context: { ...request.context, input: leanInput(inputType, request.context.input, reads) },
    entities: leanEntities(schema, request.entities, reads),
  };
}
