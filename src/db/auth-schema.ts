import { pgTable, text, timestamp } from "drizzle-orm/pg-core";

/**
 * API keys: who may call Verdict, and in which role. Only the SHA-256 of each key is stored
 * (`hash`, unique, the lookup path); `prefix` is its first characters, to tell keys apart in
 * listings. A revoked key keeps its row (`revoked_at` set) so the decisions it made stay
 * attributable.
 */
export const apiKeys = pgTable("api_keys", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  role: text("role").notNull(),
  hash: text("hash").notNull().unique(),
  prefix: text("prefix").notNull(),
  /** The person an `approver` key is for (an `Mcp::User` id); null for other roles. */
  userId: text("user_id"),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
});
