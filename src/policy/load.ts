/**
 * Loads a policy set from its sources (schema files, pinned catalogs, policy files, entities),
 * validates it in Cedar's strict mode and prepares it for decisions. A set that fails any check
 * never becomes a {@link PolicySet}: the caller keeps the one it had.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import canonicalize from "canonicalize";
import type { ToolCatalog } from "../catalog/capture.js";
import { CatalogError, generateToolSchema, type PinnedTool } from "../catalog/tool-schema.js";
import {
  CedarParseError,
  checkEntities,
  PreparedEngine,
  schemaTextToJson,
  splitPolicies,
  validatePolicySet,
  type CedarIssue,
  type Entity,
  type SchemaJson,
  type TemplateLink,
} from "../cedar/engine.js";
import { EntityStore } from "./entity-store.js";

/** The files a policy set is made of, as text, keyed by path relative to their directory. */
export interface PolicySetSources {
  /** `*.cedarschema` files of the schema directory. */
  schema: Record<string, string>;
  /** `servers/<id>.json` catalogs, keyed by server id. */
  catalogs: Record<string, string>;
  /** `*.cedar` files of the policy directory (subdirectories included). */
  policies: Record<string, string>;
  /** `entities.json` of the policy directory, or null when there is none. */
  entities: string | null;
  /**
   * `links.json` of the policy directory: template-linked policies, a JSON array of Cedar
   * template links (`{"templateId", "newId", "values": {"?principal": uid, "?resource": uid}}`).
   * Absent when there are none, so sets without templates keep the version they had.
   */
  links?: string;
}

/** A problem that keeps a policy set from loading, located as precisely as Cedar allows. */
export interface LoadIssue {
  file: string;
  line?: number;
  column?: number;
  policyId?: string;
  message: string;
  help?: string | null;
}

/** The policy set did not load; `issues` says every reason, with file, line and column. */
export class PolicySetError extends Error {
  constructor(readonly issues: LoadIssue[]) {
    super(
      `policy set is invalid:\n` +
        issues
          .map((i) => `  ${i.file}${i.line ? `:${i.line}:${i.column}` : ""}${i.policyId ? ` [${i.policyId}]` : ""}: ${i.message}${i.help ? ` (${i.help})` : ""}`)
          .join("\n"),
    );
    this.name = "PolicySetError";
  }
}

/** One policy or template of the set, with where it came from. */
export interface PolicyInfo {
  id: string;
  file: string;
  /** 1-based line of the policy's first character in its file. */
  line: number;
  text: string;
  isTemplate: boolean;
}

/** A validated, prepared policy set: everything a decision needs, for one version. */
export interface PolicySet {
  /** `sha256:<hex>` over the canonical sources. */
  version: string;
  sources: PolicySetSources;
  schema: SchemaJson;
  engine: PreparedEngine;
  policies: Map<string, PolicyInfo>;
  /** Pinned tools by action id `<server>/<tool>`. */
  tools: Map<string, PinnedTool>;
  /** Servers with a pinned catalog. */
  servers: Set<string>;
  entities: EntityStore;
  /** Template-linked policies (from `links.json`), in file order. */
  links: TemplateLink[];
  /** Action entities (tool actions and their groups) for partial evaluation, by action id. */
  actionEntities: Map<string, Entity>;
  warnings: LoadIssue[];
}

/**
 * Computes the version of a policy set: SHA-256 over the RFC 8785 canonical JSON of its sources.
 * @returns `sha256:<64 hex digits>`
 */
export function policySetVersion(sources: PolicySetSources): string {
  return "sha256:" + createHash("sha256").update(canonicalize(sources) ?? "").digest("hex");
}

function walk(dir: string, accept: (name: string) => boolean, skipDirs: Set<string> = new Set()): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) {
      if (!skipDirs.has(name) && !name.startsWith(".")) out.push(...walk(full, accept, skipDirs));
    } else if (accept(name)) out.push(full);
  }
  return out;
}

const rel = (root: string, f: string) => relative(root, f).split(sep).join("/");

/**
 * Reads a policy set's sources from disk.
 * @param policyDir directory with `*.cedar` files and an optional `entities.json`
 * @param schemaDir directory with `*.cedarschema` files and `servers/<id>.json` catalogs
 * @throws PolicySetError when a directory does not exist
 */
export function readSources(policyDir: string, schemaDir: string): PolicySetSources {
  const issues: LoadIssue[] = [];
  if (!existsSync(policyDir)) issues.push({ file: policyDir, message: "policy directory does not exist" });
  if (!existsSync(schemaDir)) issues.push({ file: schemaDir, message: "schema directory does not exist" });
  if (issues.length) throw new PolicySetError(issues);
  const sources: PolicySetSources = { schema: {}, catalogs: {}, policies: {}, entities: null };
  for (const f of walk(schemaDir, (n) => n.endsWith(".cedarschema"), new Set(["servers"]))) {
    sources.schema[rel(schemaDir, f)] = readFileSync(f, "utf8");
  }
  const serversDir = join(schemaDir, "servers");
  for (const f of walk(serversDir, (n) => n.endsWith(".json"))) {
    sources.catalogs[rel(serversDir, f).replace(/\.json$/, "")] = readFileSync(f, "utf8");
  }
  for (const f of walk(policyDir, (n) => n.endsWith(".cedar"))) {
    sources.policies[rel(policyDir, f)] = readFileSync(f, "utf8");
  }
  const entities = join(policyDir, "entities.json");
  if (existsSync(entities)) sources.entities = readFileSync(entities, "utf8");
  const links = join(policyDir, "links.json");
  if (existsSync(links)) sources.links = readFileSync(links, "utf8");
  return sources;
}

function lineCol(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

/** An issue for a JSON file that does not parse, located from V8's "at position N" when it gives one. */
function jsonIssue(file: string, text: string, e: Error): LoadIssue {
  const at = /at position (\d+)/.exec(e.message);
  return { file, ...(at ? lineCol(text, Number(at[1])) : {}), message: e.message };
}

function fromCedar(file: string, issues: CedarIssue[], fileText?: string, base = 0): LoadIssue[] {
  return issues.map((i) => ({
    file,
    ...(fileText !== undefined && i.start !== undefined ? lineCol(fileText, base + i.start) : {}),
    policyId: i.policyId,
    message: i.message,
    help: i.help,
  }));
}

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

const ID_FILE = /\.cedar$/;

/**
 * Builds, validates and prepares a policy set from its sources.
 * @throws PolicySetError listing every problem: schema or policy parse errors, strict
 *   validation errors, duplicate policy ids, invalid catalogs or entities
 */
export function buildPolicySet(sources: PolicySetSources): PolicySet {
  const issues: LoadIssue[] = [];
  const parts: SchemaJson[] = [];
  for (const [file, text] of Object.entries(sources.schema)) {
    try {
      parts.push(schemaTextToJson(text));
    } catch (e) {
      if (e instanceof CedarParseError) issues.push(...fromCedar(`schema/${file}`, e.issues, text));
      else throw e;
    }
  }

  const catalogs = new Map<string, ToolCatalog>();
  for (const [server, text] of Object.entries(sources.catalogs)) {
    try {
      const parsed = JSON.parse(text) as ToolCatalog;
      if (!parsed || !Array.isArray(parsed.tools)) throw new Error('expected a tools/list result object {"tools": [...]}');
      catalogs.set(server, parsed);
    } catch (e) {
      issues.push(jsonIssue(`schema/servers/${server}.json`, text, e as Error));
    }
  }
  let tools = new Map<string, PinnedTool>();
  if (catalogs.size) {
    try {
      const generated = generateToolSchema(catalogs);
      tools = generated.tools;
      parts.push(generated.namespaces, { Mcp: { entityTypes: {}, actions: generated.actions } });
    } catch (e) {
      if (e instanceof CatalogError) issues.push({ file: "schema/servers", message: e.message });
      else throw e;
    }
  }
  if (issues.length) throw new PolicySetError(issues);
  const schema = mergeSchema(parts);

  const policies = new Map<string, PolicyInfo>();
  const policyJson = new Map<string, unknown>();
  const staticPolicies: Record<string, string> = {};
  const templates: Record<string, string> = {};
  for (const [file, text] of Object.entries(sources.policies)) {
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
      (p.isTemplate ? templates : staticPolicies)[id] = p.text;
      policyJson.set(id, p.json);
    });
  }
  // Policies that parsed are still validated, so one run reports every file's errors.

  const links: TemplateLink[] = [];
  if (sources.links !== undefined) {
    try {
      const parsed = JSON.parse(sources.links) as unknown;
      if (!Array.isArray(parsed)) throw new Error('expected an array of template links [{"templateId", "newId", "values"}]');
      for (const [n, l] of parsed.entries()) {
        const link = l as TemplateLink;
        const problem = linkProblem(link, templates, policies);
        if (problem) issues.push({ file: "policies/links.json", message: `link ${n + 1}: ${problem}` });
        else {
          links.push(link);
          policies.set(link.newId, { id: link.newId, file: "policies/links.json", line: 1, text: linkText(link, templates[link.templateId]!), isTemplate: false });
        }
      }
    } catch (e) {
      issues.push(jsonIssue("policies/links.json", sources.links, e as Error));
    }
  }

  issues.push(...linkTypeIssues(schema, links));
  const set = { policies: staticPolicies, templates, links };
  let warnings: LoadIssue[] = [];
  try {
    const result = validatePolicySet(schema, set);
    const locate = (list: CedarIssue[]) =>
      list.map((i) => {
        const info = i.policyId ? policies.get(i.policyId) : undefined;
        if (!info) return { file: "policies", policyId: i.policyId, message: i.message, help: i.help };
        const fileText = sources.policies[info.file.replace(/^policies\//, "")];
        if (fileText === undefined) return { file: info.file, policyId: i.policyId, message: i.message, help: i.help };
        const base = fileText.indexOf(info.text);
        return fromCedar(info.file, [i], fileText, base >= 0 ? base : 0)[0]!;
      });
    issues.push(...locate(result.errors));
    warnings = locate(result.warnings);
  } catch (e) {
    if (e instanceof CedarParseError) issues.push(...fromCedar("schema", e.issues));
    else throw e;
  }

  let entityList: Entity[] = [];
  if (sources.entities !== null) {
    try {
      entityList = JSON.parse(sources.entities) as Entity[];
      if (!Array.isArray(entityList)) throw new Error("expected an array of entities (Cedar entity JSON format)");
      issues.push(...fromCedar("policies/entities.json", checkEntities(schema, entityList)));
    } catch (e) {
      issues.push(jsonIssue("policies/entities.json", sources.entities, e as Error));
    }
  }
  if (issues.length) throw new PolicySetError(issues);

  let engine: PreparedEngine;
  try {
    engine = new PreparedEngine(schema, set, { policyJson });
  } catch (e) {
    if (e instanceof CedarParseError) throw new PolicySetError(fromCedar("policies", e.issues));
    throw e;
  }

  const actionEntities = new Map<string, Entity>();
  for (const [id, action] of Object.entries(schema.Mcp?.actions ?? {})) {
    actionEntities.set(id, {
      uid: { type: "Mcp::Action", id },
      attrs: {},
      parents: (action.memberOf ?? []).map((m) => ({ type: m.type ?? "Mcp::Action", id: m.id })),
    });
  }

  return {
    version: policySetVersion(sources),
    sources,
    schema,
    engine,
    policies,
    tools,
    servers: new Set(catalogs.keys()),
    entities: new EntityStore(entityList),
    links,
    actionEntities,
    warnings,
  };
}

const SLOT = /^\?(principal|resource)$/;

/** Why a template link is malformed, or null when it is well-formed and names a known template. */
function linkProblem(link: TemplateLink, templates: Record<string, string>, policies: Map<string, PolicyInfo>): string | null {
  if (!link || typeof link !== "object") return "expected an object";
  if (typeof link.templateId !== "string" || typeof link.newId !== "string" || !link.newId) return "templateId and newId must be strings";
  if (!(link.templateId in templates)) return `template ${JSON.stringify(link.templateId)} does not exist`;
  if (policies.has(link.newId)) return `policy id ${JSON.stringify(link.newId)} is already used`;
  if (!link.values || typeof link.values !== "object") return 'values must map "?principal" / "?resource" to entity uids';
  for (const [slot, uid] of Object.entries(link.values)) {
    if (!SLOT.test(slot)) return `slot ${JSON.stringify(slot)} is not ?principal or ?resource`;
    if (!uid || typeof uid.type !== "string" || typeof uid.id !== "string") return `slot ${slot} must be an entity uid {"type", "id"}`;
  }
  return null;
}

/**
 * Cedar's validator checks templates, not the values a link puts in their slots, so a link that
 * puts a User where only Agents can be principals would be accepted and never match. Verdict
 * requires each slot value to be of a type that can stand there under the schema: a principal
 * (resource) type of some action, or a type such entities can be members of.
 */
function linkTypeIssues(schema: SchemaJson, links: TemplateLink[]): LoadIssue[] {
  const memberOf = new Map<string, string[]>();
  const qualify = (ns: string, t: string) => (t.includes("::") ? t : ns ? `${ns}::${t}` : t);
  const roots: Record<"?principal" | "?resource", Set<string>> = { "?principal": new Set(), "?resource": new Set() };
  for (const [ns, def] of Object.entries(schema)) {
    for (const [name, et] of Object.entries(def.entityTypes)) {
      memberOf.set(qualify(ns, name), ((et as { memberOfTypes?: string[] }).memberOfTypes ?? []).map((t) => qualify(ns, t)));
    }
    for (const action of Object.values(def.actions)) {
      for (const t of action.appliesTo?.principalTypes ?? []) roots["?principal"].add(qualify(ns, t));
      for (const t of action.appliesTo?.resourceTypes ?? []) roots["?resource"].add(qualify(ns, t));
    }
  }
  const allowed = (slot: "?principal" | "?resource") => {
    const out = new Set<string>();
    const stack = [...roots[slot]];
    while (stack.length) {
      const t = stack.pop()!;
      if (out.has(t)) continue;
      out.add(t);
      stack.push(...(memberOf.get(t) ?? []));
    }
    return out;
  };
  const ok = { "?principal": allowed("?principal"), "?resource": allowed("?resource") };
  const issues: LoadIssue[] = [];
  for (const link of links) {
    for (const [slot, uid] of Object.entries(link.values)) {
      const types = ok[slot as "?principal" | "?resource"];
      if (!types.has(uid.type)) {
        issues.push({
          file: "policies/links.json",
          policyId: link.newId,
          message: `${slot} of link ${JSON.stringify(link.newId)} is a ${uid.type}, which cannot be a ${slot.slice(1)} here (expected one of ${[...types].sort().join(", ")})`,
        });
      }
    }
  }
  return issues;
}

/** The Cedar text of a linked policy: its template with the slots filled, for display and diffs. */
function linkText(link: TemplateLink, template: string): string {
  return template.replace(/\?(principal|resource)\b/g, (slot) => {
    const uid = link.values[slot];
    return uid ? `${uid.type}::${JSON.stringify(uid.id)}` : slot;
  });
}

/**
 * Reads, validates and prepares the policy set in the given directories.
 * @throws PolicySetError with every problem found
 */
export function loadPolicySet(policyDir: string, schemaDir: string): PolicySet {
  return buildPolicySet(readSources(policyDir, schemaDir));
}
