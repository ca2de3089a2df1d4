/**
 * The decision log's surface of the wire contract: the recorded decision (`GET /v1/decisions`
 * items, `GET /v1/decisions/{id}`), the search filters and the queries and answers of
 * `GET /v1/decisions`, `/v1/decisions/export` and `/v1/decisions/stats`. The record, the filters,
 * the page query and the page are defined in `@verdict/sdk` (its `decisions()` reads them) and
 * re-exported here; export and stats, which the SDK does not call, are defined here.
 * Only `src/contract/` imports from `packages/`, and only by these relative re-exports: the schemas
 * are defined once, in `@verdict/sdk`, which imports nothing from the server. (Relative, so that
 * tsx and the compiled `dist/` both resolve them without a build of the package.)
 */
import { z } from "zod";
import { DecisionFilters } from "../../packages/sdk/src/wire.js";

export {
  DecisionFilters,
  DecisionPage,
  DecisionQuery,
  DecisionRecord,
  DelegationActor,
  RecordedIdentity,
  RecordedParty,
} from "../../packages/sdk/src/wire.js";

/**
 * An argument-content filter, from the query parameter `arg.<path>=<substring>`: the value at
 * `path` (JSON object keys, or array indices, separated by `.`) of the recorded arguments, as
 * text, contains `contains` (case-sensitive). `arg.path=/etc` matches `{"path": "/etc/passwd"}`;
 * `arg.headers.host=example` matches `{"headers": {"host": "api.example.com"}}`.
 */
export interface ArgumentFilter {
  path: string[];
  contains: string;
}

/** `GET /v1/decisions/export` query: the filters and a format (JSON Lines or CSV). */
export const DecisionExportQuery = DecisionFilters.extend({
  format: z.enum(["jsonl", "csv"]).default("jsonl"),
});
export type DecisionExportQuery = z.input<typeof DecisionExportQuery>;

/**
 * `GET /v1/decisions/stats` query: the filters, a bucket width and how many top entries to list.
 * Without `since`, the window is the last 24 hours (`bucket=hour`) or 30 days (`bucket=day`).
 */
export const DecisionStatsQuery = DecisionFilters.extend({
  bucket: z.enum(["hour", "day"]).default("hour"),
  top: z.coerce.number().int().min(1).max(100).default(10),
});
export type DecisionStatsQuery = z.input<typeof DecisionStatsQuery>;

const Counts = { allow: z.number(), deny: z.number() };

/** `GET /v1/decisions/stats` answer: counts over time buckets and the most denied tools, agents and users. */
export const DecisionStats = z.object({
  bucket: z.enum(["hour", "day"]),
  since: z.string(),
  until: z.string(),
  totals: z.object(Counts),
  /** Every bucket of the window, oldest first, zeros included (start instant of each bucket). */
  series: z.array(z.object({ time: z.string(), ...Counts })),
  tools: z.array(z.object({ server: z.string(), tool: z.string(), ...Counts })),
  agents: z.array(z.object({ agent: z.string(), ...Counts })),
  users: z.array(z.object({ user: z.string().nullable(), ...Counts })),
});
export type DecisionStats = z.infer<typeof DecisionStats>;
