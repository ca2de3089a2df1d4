/**
 * What changed between two policy-set versions: the files (unified diffs), the policies
 * (by id: added, removed, changed) and the pinned tools (by action id, by definition hash).
 */
import { createTwoFilesPatch } from "diff";
import type { PolicySet } from "../policy/policy-set.js";
import type { PolicySetSources } from "../policy/sources.js";

/** One changed file, with its unified diff. */
export interface FileChange {
  file: string;
  status: "added" | "removed" | "changed";
  patch: string;
}

/** The difference between two versions. */
export interface VersionDiff {
  from: string;
  to: string;
  files: FileChange[];
  policies: { added: string[]; removed: string[]; changed: string[] };
  tools: { added: string[]; removed: string[]; changed: string[] };
}

/** The sources as files, keyed by their path in a project (`policies/…`, `schema/…`). */
export function sourceFiles(sources: PolicySetSources): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [f, text] of Object.entries(sources.schema)) files[`schema/${f}`] = text;
  for (const [server, text] of Object.entries(sources.catalogs)) files[`schema/servers/${server}.json`] = text;
  if (sources.groups !== undefined) files["schema/groups.json"] = sources.groups;
  for (const [f, text] of Object.entries(sources.policies)) files[`policies/${f}`] = text;
  if (sources.entities !== null) files["policies/entities.json"] = sources.entities;
  if (sources.links !== undefined) files["policies/links.json"] = sources.links;
  return files;
}

function keyDiff<V>(a: Map<string, V>, b: Map<string, V>, same: (x: V, y: V) => boolean): { added: string[]; removed: string[]; changed: string[] } {
  const added = [...b.keys()].filter((k) => !a.has(k)).sort();
  const removed = [...a.keys()].filter((k) => !b.has(k)).sort();
  const changed = [...a.keys()].filter((k) => b.has(k) && !same(a.get(k)!, b.get(k)!)).sort();
  return { added, removed, changed };
}

/** A unified diff of two texts, labelled with the file name. */
export function unifiedDiff(file: string, before: string, after: string): string {
  return createTwoFilesPatch(`a/${file}`, `b/${file}`, before, after, undefined, undefined, { context: 3 });
}

/** Compares two built versions; `from` is the older one. */
export function diffVersions(from: PolicySet, to: PolicySet): VersionDiff {
  const a = sourceFiles(from.sources);
  const b = sourceFiles(to.sources);
  const files: FileChange[] = [];
  for (const file of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const before = a[file];
    const after = b[file];
    if (before === after) continue;
    const status = before === undefined ? "added" : after === undefined ? "removed" : "changed";
    files.push({ file, status, patch: unifiedDiff(file, before ?? "", after ?? "") });
  }
  return {
    from: from.version,
    to: to.version,
    files,
    policies: keyDiff(from.policies, to.policies, (x, y) => x.text === y.text),
    tools: keyDiff(from.tools, to.tools, (x, y) => x.definitionHash === y.definitionHash),
  };
}
