/**
 * One policy set as a value: what `buildPolicySet` (`./build.ts`) makes of a set's sources once
 * they are parsed, validated and prepared, for one version.
 */
import type { PinnedTool } from "../catalog/tool-schema.js";
import type { PreparedEngine } from "../cedar/engine.js";
import type { Entity, SchemaJson, TemplateLink } from "../cedar/types.js";
import type { EntityStore } from "./entity-store.js";
import type { LoadIssue } from "./issues.js";
import type { PolicySetSources } from "./sources.js";

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
  /**
   * Tool groups (`./groups.ts`): those declared in `schema/groups.json` (file order), then the
   * derived `read-only`, `destructive` and `open-world`, each with its tool action ids, sorted.
   * Each is an action group of the schema (`action in Mcp::Action::"<group>"`).
   */
  groups: Map<string, string[]>;
  /**
   * Approvable forbids (`@approval("<group>")`, DESIGN.md "Approvals bound to the exact call"):
   * policy id to the `Mcp::Group` id whose people may lift it for one exact call. Empty when the
   * set has none.
   */
  approvals: Map<string, string>;
  /**
   * The set without its approvable forbids, prepared: whether a call denied only by approvable
   * forbids would be allowed without them (`src/pdp/approvable.ts`). Null when the set has none.
   */
  lifted: PreparedEngine | null;
  /** Action entities (tool actions and their groups) for partial evaluation, by action id. */
  actionEntities: Map<string, Entity>;
  warnings: LoadIssue[];
}
