/**
 * Tool groups: Cedar action groups beyond `Mcp::Action::"<server>"` and `Mcp::Action::"call_tool"`,
 * so a policy can name a kind of tool (`action in Mcp::Action::"egress"`) rather than a list.
 *
 * Two sources, both turned into action groups of the schema the way the `<server>` groups are
 * (the group declared as an action without `appliesTo`, each tool action a `memberOf` it):
 * - **declared**: `schema/groups.json`, optional, written by the security team:
 *   `{"<group id>": ["<server>/<tool>", ...], ...}`;
 * - **derived** from the pinned (reviewed) annotations of each tool, with MCP's defaults for absent
 *   hints (MCP 2025-06-18 `ToolAnnotations`: readOnlyHint false, destructiveHint true,
 *   openWorldHint true; destructiveHint is meaningful only when readOnlyHint is false):
 *   `read-only` (readOnlyHint true), `destructive` (not read-only and destructiveHint not false)
 *   and `open-world` (openWorldHint not false). These three are always declared, even when empty,
 *   so a policy that names one validates against any catalog.
 */
import { z } from "zod";
import type { PinnedTool } from "../catalog/tool-schema.js";
import type { SchemaAction } from "../cedar/types.js";
import { jsonIssue, type LoadIssue } from "./issues.js";

/** Where declared groups are read from, relative to the project (the schema directory's `groups.json`). */
export const GROUPS_FILE = "schema/groups.json";

/** The groups Verdict derives from the pinned annotations; their ids are reserved. */
export const DERIVED_GROUPS = ["read-only", "destructive", "open-world"] as const;
export type DerivedGroup = (typeof DERIVED_GROUPS)[number];

/** Bounds of `groups.json`: groups in the file, tools in one group, characters in an id. */
export const GROUP_LIMITS = { groups: 1_000, toolsPerGroup: 10_000, idChars: 128, toolIdChars: 512 } as const;

/**
 * A group id: a Cedar action id that reads as a name (letters, digits, `_ . : -`, starting with a
 * letter or digit). No `/`, so it can never be read as a tool action `<server>/<tool>`.
 */
const GROUP_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

/** The shape of `groups.json`: group id to the action ids (`<server>/<tool>`) of its tools (ids are checked by {@link idProblem}). */
const GroupsFile = z
  .record(
    z.string(),
    z.array(z.string().min(1).max(GROUP_LIMITS.toolIdChars)).max(GROUP_LIMITS.toolsPerGroup, `a group has at most ${GROUP_LIMITS.toolsPerGroup} tools`),
  )
  .refine((o) => Object.keys(o).length <= GROUP_LIMITS.groups, `at most ${GROUP_LIMITS.groups} groups`);

/** What is wrong with a group id, or null when it is a valid one. */
function idProblem(id: string): string | null {
  if (id.length > GROUP_LIMITS.idChars) return `a group id has at most ${GROUP_LIMITS.idChars} characters`;
  if (!GROUP_ID.test(id)) return 'a group id is letters, digits and _ . : - (starting with a letter or digit), no "/"';
  return null;
}

/**
 * The derived groups a pinned tool is a member of, from its pinned `annotations` (absent hints
 * take MCP's defaults; a hint that is not a boolean counts as absent).
 */
export function derivedGroupsOf(tool: PinnedTool): DerivedGroup[] {
  const raw = tool.definition.annotations;
  const a = raw !== null && typeof raw === "object" ? (raw as Record<string, unknown>) : {};
  const readOnly = a.readOnlyHint === true;
  const out: DerivedGroup[] = [];
  if (readOnly) out.push("read-only");
  if (!readOnly && a.destructiveHint !== false) out.push("destructive");
  if (a.openWorldHint !== false) out.push("open-world");
  return out;
}

/** What the groups add to the schema. */
export interface ToolGroups {
  /**
   * Actions for namespace `Mcp`, to merge after the generated tool actions: one declaration per
   * group (no `appliesTo`, like `call_tool`) and each tool action that joins a group, redeclared
   * with the group ids appended to its `memberOf`.
   */
  actions: Record<string, SchemaAction>;
  /** Every group (declared in file order, then the derived ones) with its tool action ids, sorted. */
  groups: Map<string, string[]>;
}

/**
 * Reads `groups.json` and derives the annotation groups.
 * @param text the file's text, or undefined when the set has none
 * @param toolActions the generated actions of namespace `Mcp` (servers and tools), by id; a
 *   group id that is one of them, or a reserved id (`call_tool`, a derived group), is an error
 * @param tools the pinned tools by action id; a declared member that is not one is an error.
 *   Null when the catalogs did not make a schema (already reported): members are then not checked
 * @param issues where problems are added, each naming the file and the group or tool; when any
 *   is added the groups returned are incomplete and the set must not load
 */
export function readToolGroups(
  text: string | undefined,
  toolActions: Record<string, SchemaAction>,
  tools: Map<string, PinnedTool> | null,
  servers: Iterable<string>,
  issues: LoadIssue[],
): ToolGroups {
  const reserved = new Set<string>(["call_tool", ...DERIVED_GROUPS]);
  const serverIds = new Set(servers);
  for (const s of serverIds) {
    if (reserved.has(s)) issues.push({ file: `schema/servers/${s}.json`, message: `server id ${JSON.stringify(s)} is reserved (${s === "call_tool" ? "the group of all tools" : "a tool group Verdict derives from annotations"}); rename the catalog` });
  }

  const members = new Map<string, Set<string>>();
  for (const [group, toolIds] of declaredGroups(text, issues)) {
    const where = `group ${JSON.stringify(group)}`;
    if (serverIds.has(group)) {
      issues.push({ file: GROUPS_FILE, message: `${where} has the id of server ${JSON.stringify(group)} (its group of tools is already Mcp::Action::${JSON.stringify(group)}); choose another id` });
      continue;
    }
    if (reserved.has(group)) {
      issues.push({ file: GROUPS_FILE, message: `${where} uses a reserved id: ${group === "call_tool" ? '"call_tool" is the group of all tools' : `"${group}" is derived from the tools' annotations`}` });
      continue;
    }
    if (Object.hasOwn(toolActions, group)) {
      issues.push({ file: GROUPS_FILE, message: `${where} has the id of an action that already exists` });
      continue;
    }
    const set = new Set<string>();
    for (const t of toolIds) {
      if (tools && !tools.has(t)) issues.push({ file: GROUPS_FILE, message: `${where} names unknown tool ${JSON.stringify(t)} (a member is "<server>/<tool>" of a pinned catalog in schema/servers)` });
      else set.add(t);
    }
    members.set(group, set);
  }
  for (const g of DERIVED_GROUPS) members.set(g, new Set());
  for (const tool of tools?.values() ?? []) for (const g of derivedGroupsOf(tool)) members.get(g)!.add(tool.actionId);

  const actions: Record<string, SchemaAction> = {};
  const joined = new Map<string, string[]>();
  for (const [group, set] of members) {
    actions[group] = {};
    for (const t of set) {
      const list = joined.get(t);
      if (list) list.push(group);
      else joined.set(t, [group]);
    }
  }
  for (const [t, groups] of joined) {
    const def = toolActions[t];
    if (!def) continue;
    actions[t] = { ...def, memberOf: [...(def.memberOf ?? []), ...groups.map((id) => ({ id }))] };
  }
  return { actions, groups: new Map([...members].map(([g, set]) => [g, [...set].sort()])) };
}

/** The groups of `groups.json` in file order; none when there is no file or it is invalid (issues added). */
function declaredGroups(text: string | undefined, issues: LoadIssue[]): Array<[string, string[]]> {
  if (text === undefined) return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    issues.push(jsonIssue(GROUPS_FILE, text, e as Error));
    return [];
  }
  const parsed = GroupsFile.safeParse(json);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      const at = i.path.length ? `group ${JSON.stringify(String(i.path[0]))}${i.path.length > 1 ? ` item ${i.path.slice(1).join(".")}` : ""}: ` : "";
      issues.push({ file: GROUPS_FILE, message: `${at}${i.message} (expected {"<group id>": ["<server>/<tool>", ...]})` });
    }
    return [];
  }
  const out: Array<[string, string[]]> = [];
  for (const [id, tools] of Object.entries(parsed.data)) {
    const problem = idProblem(id);
    if (problem) issues.push({ file: GROUPS_FILE, message: `group ${JSON.stringify(id)}: ${problem}` });
    else out.push([id, tools]);
  }
  return out;
}
