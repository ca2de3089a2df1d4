/**
 * Tables of the policy lifecycle (issue 5): published policy-set versions, the history of
 * activations (the last row is the version in force for every replica), and tool drift seen
 * by gateways. Migrations are generated from this file with `npx drizzle-kit generate`.
 */
import { bigserial, index, integer, jsonb, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/**
 * A published policy set, content-addressed: `version` is `sha256:<hex>` over the canonical
 * sources (`policySetVersion`), so publishing the same sources twice yields the same row.
 */
export const policySetVersions = pgTable(
  "policy_set_versions",
  {
    version: text("version").primaryKey(),
    /** `PolicySetSources`: schema, catalogs, policies, entities and template links, as text. */
    sources: jsonb("sources").notNull(),
    publishedAt: timestamp("published_at", { withTimezone: true, mode: "date" }).notNull(),
    /** The caller that published it (from the request's credentials), null when unauthenticated. */
    publishedBy: text("published_by"),
    /** The version this one was derived from (template and link edits through the API). */
    parent: text("parent"),
    /** What the publisher said about it. */
    message: text("message"),
  },
  (t) => [index("policy_set_versions_published_idx").on(t.publishedAt.desc())],
);

/** Every activation, in order; the row with the highest id is the version in force. */
export const policySetActivations = pgTable("policy_set_activations", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  version: text("version")
    .notNull()
    .references(() => policySetVersions.version),
  activatedAt: timestamp("activated_at", { withTimezone: true, mode: "date" }).notNull(),
  activatedBy: text("activated_by"),
  /** `activate` or `rollback`. */
  reason: text("reason").notNull(),
});

/**
 * A tool whose definition, as a gateway's `tools/list` reported it, differs from the pinned one.
 * Keyed by the pair of hashes, so the same drift seen again only bumps `seen` and `lastSeenAt`;
 * it stays open while the version in force pins `pinnedHash` (until someone re-pins).
 */
export const toolDrift = pgTable(
  "tool_drift",
  {
    server: text("server").notNull(),
    tool: text("tool").notNull(),
    pinnedHash: text("pinned_hash").notNull(),
    reportedHash: text("reported_hash").notNull(),
    /** The tool object as reported, for the security team's review. */
    reported: jsonb("reported").notNull(),
    policySetVersion: text("policy_set_version").notNull(),
    firstSeenAt: timestamp("first_seen_at", { withTimezone: true, mode: "date" }).notNull(),
    lastSeenAt: timestamp("last_seen_at", { withTimezone: true, mode: "date" }).notNull(),
    /** The agent whose `tools/list` first showed it. */
    firstAgent: text("first_agent").notNull(),
    seen: integer("seen").notNull().default(1),
  },
  (t) => [primaryKey({ columns: [t.server, t.tool, t.pinnedHash, t.reportedHash] })],
);
