/**
 * Per-action planning of a policy set, so that a decision hands cedar-wasm only what its action
 * can use. Measured on cedar-wasm 4.13: `statefulIsAuthorized` costs about 8 µs for every
 * preparsed policy and grows with the size of the preparsed schema, whether or not they concern
 * the request. Cedar policy scopes are static, so the policies whose action scope can match an
 * action are known at load (Cedar: `action`, `action == A`, `action in A`, `action in [A, B]`,
 * with the action hierarchy of the schema's `memberOf`); and a request for one action is
 * validated only against that action's declaration and the types it reaches.
 *
 * This module is pure (no wasm): it computes, for each action of a schema, the policies that can
 * apply and a reduced schema that validates and evaluates that action's requests exactly as the
 * full schema does. `./engine.ts` preparses both and routes each request.
 */
import type { SchemaAction, SchemaJson, SchemaNamespace } from "./types.js";

/** An entity uid as Cedar policy JSON writes it (`{type, id}` or `{__entity: {type, id}}`). */
type UidJson = { type: string; id: string } | { __entity: { type: string; id: string } };

/** The parts of a policy's JSON form (Cedar policy JSON) that planning needs. */
export interface PolicyShape {
  /** `permit` or `forbid` (absent in shapes built by hand; the engine then treats the policy as a forbid). */
  effect?: "permit" | "forbid";
  action: { op: "All" } | { op: "=="; entity?: UidJson; slot?: string } | { op: "in"; entity?: UidJson; entities?: UidJson[] };
  conditions: unknown[];
}

/** What one action's requests are evaluated with. */
export interface ActionPlan {
  /** Ids of the policies, templates and links whose scope can match the action (sorted). */
  policyIds: string[];
  /** The schema reduced to what requests of this action can reach. */
  schema: SchemaJson;
}

/** `Type::"id"` key of an action uid. */
export const actionKey = (type: string, id: string): string => `${type}::${JSON.stringify(id)}`;

const plainUid = (u: UidJson): { type: string; id: string } => ("__entity" in u ? u.__entity : u);

/** Whether an entity type name is an action type (`Action` or `<namespace>::Action`). */
export function isActionType(type: string): boolean {
  return type === "Action" || type.endsWith("::Action");
}

/** Every action declared in a schema, by key, with the keys of its parents (resolved names). */
function declaredActions(schema: SchemaJson): Map<string, { ns: string; id: string; def: SchemaAction; parents: string[] }> {
  const out = new Map<string, { ns: string; id: string; def: SchemaAction; parents: string[] }>();
  for (const [ns, def] of Object.entries(schema)) {
    const own = ns ? `${ns}::Action` : "Action";
    for (const [id, action] of Object.entries(def.actions ?? {})) {
      const parents = (action.memberOf ?? []).map((m) => {
        const type = m.type === undefined ? own : m.type.includes("::") ? m.type : ns ? `${ns}::${m.type}` : m.type;
        return actionKey(type, m.id);
      });
      out.set(actionKey(own, id), { ns, id, def: action, parents });
    }
  }
  return out;
}

/** Collects the type names a schema fragment refers to (`{"type": N}` and `{"name": N}`). */
function typeRefs(value: unknown, out: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) typeRefs(v, out);
    return;
  }
  if (value === null || typeof value !== "object") return;
  const obj = value as Record<string, unknown>;
  if (typeof obj.type === "string") out.add(obj.type);
  if (typeof obj.name === "string") out.add(obj.name);
  for (const [k, v] of Object.entries(obj)) if (k !== "annotations") typeRefs(v, out);
}

/** Collects the action uids written as literals in policy conditions. */
function actionLiterals(value: unknown, out: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) actionLiterals(v, out);
    return;
  }
  if (value === null || typeof value !== "object") return;
  const obj = value as Record<string, unknown>;
  const e = obj.__entity as { type?: unknown; id?: unknown } | undefined;
  if (e && typeof e.type === "string" && typeof e.id === "string" && isActionType(e.type)) out.add(actionKey(e.type, e.id));
  for (const v of Object.values(obj)) actionLiterals(v, out);
}

/**
 * Plans a policy set by action.
 * @param schema the full schema
 * @param policies each policy, template and template link by id, with the JSON form of its scope
 *   and conditions (a link has the template's)
 * @returns a plan for each declared action, keyed by {@link actionKey}; null when an action's
 *   reduced schema cannot be built (its parent is not declared), in which case the full set
 *   and schema must be used for it
 */
export function planByAction(schema: SchemaJson, policies: Map<string, PolicyShape>): Map<string, ActionPlan | null> {
  const actions = declaredActions(schema);
  const ancestorsCache = new Map<string, Set<string> | null>();
  const ancestors = (key: string): Set<string> | null => {
    const cached = ancestorsCache.get(key);
    if (cached !== undefined) return cached;
    const out = new Set<string>([key]);
    const stack = [key];
    while (stack.length) {
      const k = stack.pop()!;
      const a = actions.get(k);
      if (!a) {
        ancestorsCache.set(key, null);
        return null;
      }
      for (const p of a.parents) if (!out.has(p)) (out.add(p), stack.push(p));
    }
    ancestorsCache.set(key, out);
    return out;
  };

  const literalsOf = new Map<string, Set<string>>();
  for (const [id, p] of policies) {
    const lits = new Set<string>();
    actionLiterals(p.conditions, lits);
    literalsOf.set(id, lits);
  }

  const plans = new Map<string, ActionPlan | null>();
  for (const key of actions.keys()) {
    const lineage = ancestors(key);
    if (!lineage) {
      plans.set(key, null);
      continue;
    }
    const policyIds: string[] = [];
    const roots = new Set<string>([key]);
    for (const [id, p] of policies) {
      if (!scopeMatches(p.action, key, lineage)) continue;
      policyIds.push(id);
      for (const l of literalsOf.get(id)!) roots.add(l);
    }
    policyIds.sort();
    plans.set(key, reducedSchema(schema, actions, ancestors, key, roots, policyIds));
  }
  return plans;
}

function scopeMatches(scope: PolicyShape["action"], key: string, lineage: Set<string>): boolean {
  switch (scope.op) {
    case "All":
      return true;
    case "==":
      // A slot in the action scope is not Cedar syntax; treat it as "may match" to stay safe.
      return scope.entity === undefined || actionKeyOf(scope.entity) === key;
    case "in": {
      const list = scope.entities ?? (scope.entity ? [scope.entity] : []);
      return list.some((u) => lineage.has(actionKeyOf(u)));
    }
  }
}

const actionKeyOf = (u: UidJson): string => {
  const p = plainUid(u);
  return actionKey(p.type, p.id);
};

/**
 * The schema a request of `key` needs: every entity type (entities are validated against them),
 * the action with its ancestors (its hierarchy), the actions policy conditions name (declared
 * without `appliesTo`, only for their hierarchy), and every common type reachable from those.
 * A common type is kept when its simple or qualified name is referenced anywhere reachable, so an
 * unqualified name resolves exactly as it does in the full schema.
 */
function reducedSchema(
  schema: SchemaJson,
  actions: ReturnType<typeof declaredActions>,
  ancestors: (key: string) => Set<string> | null,
  key: string,
  roots: Set<string>,
  policyIds: string[],
): ActionPlan | null {
  const withAppliesTo = ancestors(key)!;
  const keep = new Set<string>(withAppliesTo);
  for (const r of roots) {
    const lineage = ancestors(r);
    // A literal naming an undeclared action is evaluated the same way with or without it.
    if (lineage) for (const l of lineage) keep.add(l);
  }

  const out: SchemaJson = {};
  for (const [ns, def] of Object.entries(schema)) {
    const ns2: SchemaNamespace = { entityTypes: def.entityTypes, actions: {}, commonTypes: {} };
    if (def.annotations) ns2.annotations = def.annotations;
    out[ns] = ns2;
  }
  const refs = new Set<string>();
  for (const k of keep) {
    const a = actions.get(k)!;
    const decl: SchemaAction = a.def.memberOf ? { memberOf: a.def.memberOf } : {};
    if (withAppliesTo.has(k) && a.def.appliesTo) {
      decl.appliesTo = a.def.appliesTo;
      typeRefs(a.def.appliesTo, refs);
    }
    out[a.ns]!.actions[a.id] = decl;
  }
  for (const def of Object.values(schema)) typeRefs(def.entityTypes, refs);

  let added = true;
  while (added) {
    added = false;
    for (const [ns, def] of Object.entries(schema)) {
      for (const [name, type] of Object.entries(def.commonTypes ?? {})) {
        const common = out[ns]!.commonTypes!;
        if (common[name] || !(refs.has(name) || refs.has(ns ? `${ns}::${name}` : name))) continue;
        common[name] = type;
        typeRefs(type, refs);
        added = true;
      }
    }
  }
  return { policyIds, schema: out };
}

/**
 * The attribute names some policies read, by `.name` or `has name` (Cedar policy JSON `"."` and
 * `"has"`), or null when a policy may observe `context` or `context.input` as a whole (compare it,
 * put it in a set): then no attribute of them can be left out of a request.
 * @param conditions the `conditions` of each policy in Cedar policy JSON
 */
export function attributesRead(conditions: unknown[]): Set<string> | null {
  const names = new Set<string>();
  let whole = false;
  const isContext = (e: unknown) => (e as { Var?: unknown } | null)?.Var === "context";
  const isInput = (e: unknown) => {
    const dot = (e as { "."?: { left: unknown; attr: unknown } } | null)?.["."];
    return dot !== undefined && dot.attr === "input" && isContext(dot.left);
  };
  // `accessed`: this node is the left side of `.` or `has`, so only one attribute of it is read
  const walk = (node: unknown, accessed: boolean): void => {
    if (whole || node === null || typeof node !== "object") return;
    if (Array.isArray(node)) {
      for (const n of node) walk(n, false);
      return;
    }
    if (!accessed && (isContext(node) || isInput(node))) {
      whole = true;
      return;
    }
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      if ((k === "." || k === "has") && v && typeof v === "object") {
        const { left, attr } = v as { left?: unknown; attr?: unknown };
        // `e has a.b` carries the path as a list
        for (const a of Array.isArray(attr) ? attr : [attr]) if (typeof a === "string") names.add(a);
        walk(left, true);
        for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) if (k2 !== "left" && k2 !== "attr") walk(v2, false);
      } else walk(v, false);
    }
  };
  for (const c of conditions) walk(c, false);
  return whole ? null : names;
}

/**
 * The key of a path of attribute names below `context` (`[]` for `context` itself,
 * `["session", "task"]` for `context.session.task`): each name preceded by a NUL, so that no two
 * paths share a key whatever their names hold.
 */
export const contextPathKey = (names: readonly string[]): string => names.map((n) => `\0${n}`).join("");

/** The attribute names of a `context.a.b` chain in Cedar policy JSON (`[]` for `context`), or null when the node is not one. */
function contextChain(node: unknown): string[] | null {
  if (node === null || typeof node !== "object") return null;
  if ((node as { Var?: unknown }).Var === "context") return [];
  const dot = (node as { "."?: { left?: unknown; attr?: unknown } })["."];
  if (!dot || typeof dot.attr !== "string") return null;
  const left = contextChain(dot.left);
  return left ? [...left, dot.attr] : null;
}

/**
 * The values below `context` that some policy may observe as a whole: every `context.a.b...`
 * chain used otherwise than as the left side of `.` or `has` (compared, put in a set, passed to
 * a method, returned by `if`), as {@link contextPathKey} keys. A record at any other path is
 * seen only one named attribute at a time, so an attribute whose name no policy reads
 * ({@link attributesRead}) cannot change what such a policy sees of it; a record at one of these
 * paths can be seen whole, and nothing of it may be left out. The decision cache keys a request
 * on this (`./decision-cache.ts`).
 * @param conditions the `conditions` of each policy in Cedar policy JSON
 */
export function contextValuesObserved(conditions: unknown[]): Set<string> {
  const out = new Set<string>();
  const walk = (node: unknown, accessed: boolean): void => {
    if (node === null || typeof node !== "object") return;
    if (Array.isArray(node)) {
      for (const n of node) walk(n, false);
      return;
    }
    if (!accessed) {
      const chain = contextChain(node);
      if (chain) out.add(contextPathKey(chain));
    }
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      if ((k === "." || k === "has") && v && typeof v === "object") {
        for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) if (k2 !== "attr") walk(v2, k2 === "left");
      } else walk(v, false);
    }
  };
  for (const c of conditions) walk(c, false);
  return out;
}
