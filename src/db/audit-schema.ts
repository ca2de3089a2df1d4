import { bigint, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * Signed checkpoints of the hash chains (`audit/checkpoints.ts`), one row per signature:
 *
 * - `head`: a writer signed the head of its stream (`seq`, `hash`), so that removing the last
 *   records of a stream, which leaves a chain that is valid but short, is detected; the JWT also
 *   names the previous head of the stream and the other streams the writer knew of;
 * - `retention`: retention dropped this stream's records through `seq` (the hash of that record
 *   is the `prevHash` the first kept record must carry).
 *
 * Every column is also in the signed JWT, so a changed column no longer matches its signature.
 * There is no surrogate key: (stream, kind, seq) names a checkpoint.
 */
export const chainCheckpoints = pgTable(
  "chain_checkpoints",
  {
    stream: uuid("stream").notNull(),
    seq: bigint("seq", { mode: "number" }).notNull(),
    hash: text("hash").notNull(),
    /** Compact JWS (ES256; `typ: verdict-chain-head+jwt` or `verdict-chain-retention+jwt`). */
    jwt: text("jwt").notNull(),
    time: timestamp("time", { withTimezone: true, mode: "date" }).notNull(),
    /** `head` or `retention`. */
    kind: text("kind").notNull().default("head"),
  },
  (t) => [primaryKey({ columns: [t.stream, t.kind, t.seq] })],
);
