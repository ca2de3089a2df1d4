import { jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

/**
 * Verdict's own signing keys (ES256): the newest unretired key signs; every key stays in the
 * JWKS until its `retiredAt` plus a grace period, so what it signed stays verifiable.
 */
export const signingKeys = pgTable("signing_keys", {
  kid: text("kid").primaryKey(),
  alg: text("alg").notNull(),
  publicJwk: jsonb("public_jwk").notNull(),
  privateJwk: jsonb("private_jwk").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  retiredAt: timestamp("retired_at", { withTimezone: true, mode: "date" }),
});
