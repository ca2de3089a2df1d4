/**
 * Template-linked policies (`links.json`): read and checked against the set's templates, then
 * their slot values checked against the schema's types.
 */
import type { SchemaJson, TemplateLink } from "../cedar/types.js";
import { jsonIssue, type LoadIssue } from "./issues.js";
import type { PolicyInfo } from "./policy-set.js";

const SLOT = /^\?(principal|resource)$/;

/**
 * Reads `links.json`: each well-formed link that names a known template is kept, and added to
 * `policies` (file `policies/links.json`, its template's text with the slots filled).
 * @param text the file's text; undefined when the set has none
 * @param templates the set's templates by id
 * @param issues receives a problem for each malformed link, or the file's JSON error
 * @returns the links kept, in file order
 */
export function readLinks(text: string | undefined, templates: Record<string, string>, policies: Map<string, PolicyInfo>, issues: LoadIssue[]): TemplateLink[] {
  const links: TemplateLink[] = [];
  if (text === undefined) return links;
  try {
    const parsed = JSON.parse(text) as unknown;
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
    issues.push(jsonIssue("policies/links.json", text, e as Error));
  }
  return links;
}

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
 * @returns one issue per slot value of a type that cannot stand there
 */
export function linkTypeIssues(schema: SchemaJson, links: TemplateLink[]): LoadIssue[] {
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
