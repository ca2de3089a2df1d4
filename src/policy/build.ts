/**
 * Builds a policy set from its sources, in named steps: parse the schema files, read the pinned
 * catalogs and generate their tool actions, add the tool groups (`groups.json` and the groups
 * derived from annotations, `./groups.ts`), merge the schema, split the policy files, read the
 * template links, validate in Cedar's strict mode, check the entities, prepare the engine, and
 * make the action entities. A set that fails any step never becomes a {@link PolicySet}: the
 * caller keeps the one it had. Every step that can fail adds to one list of issues, so one run
 * reports every problem it can find before the set is refused.
 */
import type { ToolCatalog } from "../catalog/capture.js";
import { CatalogError, generateToolSchema, type PinnedTool } from "../catalog/tool-schema.js";
import { PreparedEngine } from "../cedar/engine.js";
import { splitPolicies, validatePolicySet } from "../cedar/policies.js";
import { checkEntities, schemaTextToJson } from "../cedar/schema.js";
import { CedarParseError, type CedarIssue, type Entity, type PolicySetInput, type SchemaAction, type SchemaJson } from "../cedar/types.js";
import { EntityStore } from "./entity-store.js";
import { readToolGroups } from "./groups.js";
import { fromCedar, jsonIssue, PolicySetError, type LoadIssue } from "./issues.js";
import { linkTypeIssues, readLinks } from "./links.js";
import type { PolicyInfo, PolicySet } from "./policy-set.js";
import { policySetVersion, readSources, type PolicySetSources } from "./sources.js";

/**
 * Builds, validates and prepares a policy set from its sources.
 * @throws PolicySetError listing every problem: schema or policy parse errors, strict
 *   validation errors, duplicate policy ids, invalid catalogs, tool groups, template links or
 *   entities
 */
export function buildPolicySet(sources: PolicySetSources): PolicySet {
  const issues: LoadIssue[] = [];
  const parts = parseSchemaFiles(sources.schema, issues);
  const catalogs = readCatalogs(sources.catalogs, issues);
  const toolIssues = issues.length;
  const generated = catalogs.size ? generateToolActions(catalogs, parts, issues) : { tools: new Map<string, PinnedTool>(), actions: {} };
  const tools = generated.tools;
  // Members of declared groups are checked only against catalogs that made a schema: otherwise
  // every member would be reported unknown for a reason already reported.
  const groups = addToolGroups(sources.groups, generated.actions, tools, catalogs.keys(), issues.length === toolIssues, parts, issues);
  if (issues.length) throw new PolicySetError(issues);
  const schema = mergeSchema(parts);

  // Policies that parsed are still validated, so one run reports every file's errors.
  const split = splitPolicyFiles(sources.policies, issues);
  const links = readLinks(sources.links, split.templates, split.policies, issues);
  issues.push(...linkTypeIssues(schema, links));
  const set: PolicySetInput = { policies: split.staticPolicies, templates: split.templates, links };
  const warnings = validate(schema, set, split.policies, sources.policies, issues);
  const entities = readEntities(sources.entities, schema, issues);
  const approvals = readApprovals(split, entities, issues);
  if (issues.length) throw new PolicySetError(issues);

  return {
    version: policySetVersion(sources),
    sources,
    schema,
    engine: prepareEngine(schema, set, split.policyJson),
    approvals,
    lifted: approvals.size ? prepareEngine(schema, withoutPolicies(set, approvals), split.policyJson) : null,
    policies: split.policies,
    tools,
    servers: new Set(catalogs.keys()),
    groups,
    entities: new EntityStore(entities),
    links,
    actionEntities: actionEntities(schema),
    warnings,
  };
}

/**
 * Reads, validates and prepares the policy set in the given directories.
 * @throws PolicySetError with every problem found
 */
export function loadPolicySet(policyDir: string, schemaDir: string): PolicySet {
  return buildPolicySet(readSources(policyDir, schemaDir));
}

/** Step: each `*.cedarschema` file to Cedar schema JSON; a file that does not parse adds its issues. */
function parseSchemaFiles(files: Record<string, string>, issues: LoadIssue[]): SchemaJson[] {
  const parts: SchemaJson[] = [];
  for (const [file, text] of Object.entries(files)) {
    try {
      parts.push(schemaTextToJson(text));
    } catch (e) {
      if (e instanceof CedarParseError) issues.push(...fromCedar(`schema/${file}`, e.issues, text));
      else throw e;
    }
  }
  return parts;
}

/** Step: the pinned catalogs (`tools/list` results) by server id; one that is not such JSON adds an issue. */
function readCatalogs(files: Record<string, string>, issues: LoadIssue[]): Map<string, ToolCatalog> {
  const catalogs = new Map<string, ToolCatalog>();
  for (const [server, text] of Object.entries(files)) {
    try {
      const parsed = JSON.parse(text) as ToolCatalog;
      if (!parsed || !Array.isArray(parsed.tools)) throw new Error('expected a tools/list result object {"tools": [...]}');
      catalogs.set(server, parsed);
    } catch (e) {
      issues.push(jsonIssue(`schema/servers/${server}.json`, text, e as Error));
    }
  }
  return catalogs;
}

/**
 * Step: the catalogs' tool actions and input types, added to `parts` (one `Mcp::Action` per
 * tool, its context typed from the tool's inputSchema).
 * @returns the pinned tools and the generated `Mcp` actions (servers and tools) by id; none
 *   when the catalogs cannot be turned into a schema
 */
function generateToolActions(
  catalogs: Map<string, ToolCatalog>,
  parts: SchemaJson[],
  issues: LoadIssue[],
): { tools: Map<string, PinnedTool>; actions: Record<string, SchemaAction> } {
  try {
    const generated = generateToolSchema(catalogs);
    parts.push(generated.namespaces, { Mcp: { entityTypes: {}, actions: generated.actions } });
    return { tools: generated.tools, actions: generated.actions };
  } catch (e) {
    if (e instanceof CatalogError) issues.push({ file: "schema/servers", message: e.message });
    else throw e;
    return { tools: new Map(), actions: {} };
  }
}

/**
 * Step: the tool groups as action groups, added to `parts` after the tool actions (a group
 * declared like `call_tool`; each member tool redeclared with the group in its `memberOf`).
 * @param checkMembers whether the catalogs made a schema, so a declared member that is not a
 *   pinned tool is an error
 * @returns every group with its tool action ids
 */
function addToolGroups(
  text: string | undefined,
  toolActions: Record<string, SchemaAction>,
  tools: Map<string, PinnedTool>,
  servers: Iterable<string>,
  checkMembers: boolean,
  parts: SchemaJson[],
  issues: LoadIssue[],
): Map<string, string[]> {
  const result = readToolGroups(text, toolActions, checkMembers ? tools : null, servers, issues);
  parts.push({ Mcp: { entityTypes: {}, actions: result.actions } });
  return result.groups;
}

/** Step: one schema from its parts, namespace by namespace (a later declaration of a name wins). */
function mergeSchema(parts: SchemaJson[]): SchemaJson {
  const out: SchemaJson = {};
  for (const part of parts) {
    for (const [ns, def] of Object.entries(part)) {
      const into = (out[ns] ??= { entityTypes: {}, actions: {}, commonTypes: {} });
      Object.assign(into.entityTypes, def.entityTypes);
      Object.assign(into.actions, def.actions);
      into.commonTypes = { ...(into.commonTypes ?? {}), ...(def.commonTypes ?? {}) };
    }
  }
  return out;
}

/** The policies and templates of the policy files, by id. */
interface SplitPolicies {
  policies: Map<string, PolicyInfo>;
  /** Each policy's and template's Cedar policy JSON, for the engine (see `PreparedEngineOptions.policyJson`). */
  policyJson: Map<string, unknown>;
  /** Each policy's and template's annotations, by id. */
  annotations: Map<string, Record<string, string>>;
  staticPolicies: Record<string, string>;
  templates: Record<string, string>;
}

const ID_FILE = /\.cedar$/;

/**
 * Step: each `*.cedar` file split into its policies and templates. A policy's id is its
 * `@id(...)` annotation, else the file's stem (one policy in the file) or `<stem>#<n>`; a file
 * that does not parse, or an id used twice, adds issues.
 */
function splitPolicyFiles(files: Record<string, string>, issues: LoadIssue[]): SplitPolicies {
  const out: SplitPolicies = { policies: new Map(), policyJson: new Map(), annotations: new Map(), staticPolicies: {}, templates: {} };
  const { policies } = out;
  for (const [file, text] of Object.entries(files)) {
    let split;
    try {
      split = splitPolicies(text);
    } catch (e) {
      if (e instanceof CedarParseError) {
        issues.push(...fromCedar(`policies/${file}`, e.issues, text));
        continue;
      }
      throw e;
    }
    let cursor = 0;
    // Lines are counted as the cursor advances: counting from the start for each policy was
    // quadratic (minutes for a file of 10,000 policies).
    let line = 1;
    let counted = 0;
    split.forEach((p, n) => {
      const at = text.indexOf(p.text, cursor);
      const offset = at >= 0 ? at : cursor;
      cursor = at >= 0 ? at + p.text.length : cursor;
      for (; counted < offset; counted++) if (text.charCodeAt(counted) === 10) line++;
      const stem = file.replace(ID_FILE, "");
      const id = p.annotations.id ?? (split.length === 1 ? stem : `${stem}#${n + 1}`);
      if (policies.has(id)) {
        issues.push({ file: `policies/${file}`, line, column: 1, policyId: id, message: `policy id ${JSON.stringify(id)} is used twice (also in ${policies.get(id)!.file})` });
        return;
      }
      policies.set(id, { id, file: `policies/${file}`, line, text: p.text, isTemplate: p.isTemplate });
      (p.isTemplate ? out.templates : out.staticPolicies)[id] = p.text;
      out.policyJson.set(id, p.json);
      out.annotations.set(id, p.annotations);
    });
  }
  return out;
}

/**
 * Step: strict validation of the set against the schema. Errors are added to `issues`, each
 * located in its policy's file when the policy is known.
 * @param files the policy files' text, to locate Cedar's offsets
 * @returns the validation warnings, located the same way
 */
function validate(schema: SchemaJson, set: PolicySetInput, policies: Map<string, PolicyInfo>, files: Record<string, string>, issues: LoadIssue[]): LoadIssue[] {
  try {
    const result = validatePolicySet(schema, set);
    const locate = (list: CedarIssue[]) =>
      list.map((i) => {
        const info = i.policyId ? policies.get(i.policyId) : undefined;
        if (!info) return { file: "policies", policyId: i.policyId, message: i.message, help: i.help };
        const fileText = files[info.file.replace(/^policies\//, "")];
        if (fileText === undefined) return { file: info.file, policyId: i.policyId, message: i.message, help: i.help };
        const base = fileText.indexOf(info.text);
        return fromCedar(info.file, [i], fileText, base >= 0 ? base : 0)[0]!;
      });
    issues.push(...locate(result.errors));
    return locate(result.warnings);
  } catch (e) {
    if (e instanceof CedarParseError) issues.push(...fromCedar("schema", e.issues));
    else throw e;
    return [];
  }
}

/** The annotation that makes a forbid approvable: `@approval("<Mcp::Group id>")`. */
export const APPROVAL_ANNOTATION = "approval";

/**
 * Step: the approvable forbids (`@approval("<group>")`). The annotation is allowed on a static
 * `forbid` only (on a permit it would mean nothing; a template's links would share one group
 * without review), and its group must be an `Mcp::Group` of `entities.json`: each misuse adds an
 * issue naming the policy.
 * @returns policy id to group id
 */
function readApprovals(split: SplitPolicies, entities: Entity[], issues: LoadIssue[]): Map<string, string> {
  const out = new Map<string, string>();
  const groups = new Set(entities.filter((e) => e.uid.type === "Mcp::Group").map((e) => e.uid.id));
  for (const [id, info] of split.policies) {
    const group = split.annotations.get(id)?.[APPROVAL_ANNOTATION];
    if (group === undefined) continue;
    const at = { file: info.file, line: info.line, column: 1, policyId: id };
    const effect = (split.policyJson.get(id) as { effect?: string } | undefined)?.effect;
    if (info.isTemplate) issues.push({ ...at, message: `@approval is not supported on a template ("${id}"): put it on a static forbid` });
    else if (effect !== "forbid") issues.push({ ...at, message: `@approval is only for a forbid; "${id}" is a ${effect ?? "policy of unknown effect"}` });
    else if (group === "") issues.push({ ...at, message: `@approval on "${id}" names no group: @approval("<Mcp::Group id>")` });
    else if (!groups.has(group)) issues.push({ ...at, message: `@approval on "${id}" names group "${group}", which is not an Mcp::Group of policies/entities.json` });
    else out.set(id, group);
  }
  return out;
}

/** The set without the given static policies. */
function withoutPolicies(set: PolicySetInput, drop: ReadonlyMap<string, unknown>): PolicySetInput {
  const policies: Record<string, string> = {};
  for (const [id, text] of Object.entries(set.policies)) if (!drop.has(id)) policies[id] = text;
  return { ...set, policies };
}

/** Step: `entities.json` (Cedar entity JSON) checked against the schema; none when the set has no such file. */
function readEntities(text: string | null, schema: SchemaJson, issues: LoadIssue[]): Entity[] {
  if (text === null) return [];
  let entities: Entity[] = [];
  try {
    entities = JSON.parse(text) as Entity[];
    if (!Array.isArray(entities)) throw new Error("expected an array of entities (Cedar entity JSON format)");
    issues.push(...fromCedar("policies/entities.json", checkEntities(schema, entities)));
  } catch (e) {
    issues.push(jsonIssue("policies/entities.json", text, e as Error));
  }
  return entities;
}

/**
 * Step: the set and schema preparsed in the engine.
 * @throws PolicySetError when Cedar cannot preparse them
 */
function prepareEngine(schema: SchemaJson, set: PolicySetInput, policyJson: Map<string, unknown>): PreparedEngine {
  try {
    return new PreparedEngine(schema, set, { policyJson });
  } catch (e) {
    if (e instanceof CedarParseError) throw new PolicySetError(fromCedar("policies", e.issues));
    throw e;
  }
}

/** Step: an `Mcp::Action` entity for each action of the schema's `Mcp` namespace, with its groups as parents, by action id. */
function actionEntities(schema: SchemaJson): Map<string, Entity> {
  const out = new Map<string, Entity>();
  for (const [id, action] of Object.entries(schema.Mcp?.actions ?? {})) {
    out.set(id, {
      uid: { type: "Mcp::Action", id },
      attrs: {},
      parents: (action.memberOf ?? []).map((m) => ({ type: m.type ?? "Mcp::Action", id: m.id })),
    });
  }
  return out;
}
