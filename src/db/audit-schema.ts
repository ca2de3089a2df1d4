import { bigint, bigserial, index, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * Signed chain heads: every so often (and at shutdown) a writer signs the head of its stream
 * (`seq`, `hash`) with Verdict's key, so that removing the last records of a stream, which
 * leaves a chain that is valid but short, is detected by the verifier.
 */
export const chainCheckpoints = pgTable(
  "chain_checkpoints",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    stream: uuid("stream").notNull(),
    seq: bigint("seq", { mode: "number" }).notNull(),
    hash: text("hash").notNull(),
    /** Compact JWS (ES256, `typ: verdict-chain-head+jwt`) over `{stream, seq, hash, iat}`. */
    jwt: text("jwt").notNull(),
    time: timestamp("time", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [index("chain_checkpoints_stream_idx").on(t.stream, t.seq.desc())],
);
