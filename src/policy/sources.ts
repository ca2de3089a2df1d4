/**
 * A policy set's sources: the files it is made of, read from disk as text, and the version
 * computed over them.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import canonicalize from "canonicalize";
import { PolicySetError, type LoadIssue } from "./issues.js";

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
  /**
   * `groups.json` of the schema directory: tool groups the security team declares, a JSON object
   * of group id to tool action ids (`{"reads-secrets": ["vault/read_secret"]}`, see
   * `./groups.ts`). Absent when there is none, so sets without it keep the version they had.
   */
  groups?: string;
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
 * @param schemaDir directory with `*.cedarschema` files, `servers/<id>.json` catalogs and an
 *   optional `groups.json`
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
  const groups = join(schemaDir, "groups.json");
  if (existsSync(groups)) sources.groups = readFileSync(groups, "utf8");
  return sources;
}
