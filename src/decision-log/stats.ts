/**
 * `GET /v1/decisions/stats`: allow/deny counts over hour or day buckets (UTC) and the most denied
 * tools, agents and users, for the explorer's charts. Aggregated in Postgres; the window is
 * bounded so a chart never asks for more than {@link MAX_BUCKETS} buckets.
 */
import { inArray, sql, type SQL } from "drizzle-orm";
import type { DecisionStats } from "../contract/decision-log.js";
import type { Db } from "../db/client.js";
import { decisions } from "../db/schema.js";
import { rowsOf } from "./partitions.js";
import { DECISION_KINDS } from "./record.js";
import { filterConditions, SearchError, whereAll, type SearchFilters } from "./search.js";

/** Most buckets one stats query may span. */
export const MAX_BUCKETS = 2000;
const BUCKET_MS = { hour: 3_600_000, day: 86_400_000 } as const;
const DEFAULT_WINDOW_MS = { hour: 24 * 3_600_000, day: 30 * 86_400_000 } as const;

function truncate(t: Date, bucket: "hour" | "day"): Date {
  return new Date(Math.floor(t.getTime() / BUCKET_MS[bucket]) * BUCKET_MS[bucket]);
}

/**
 * Computes the stats of the decisions matching `f` between `since` (default: a day or 30 days
 * before `until`) and `until` (default: now).
 * @throws SearchError when the window is empty or spans more than {@link MAX_BUCKETS} buckets
 */
export async function decisionStats(
  db: Db,
  f: SearchFilters & { bucket: "hour" | "day"; top: number },
  now = new Date(),
): Promise<DecisionStats> {
  const until = f.until ? new Date(f.until) : now;
  const since = f.since ? new Date(f.since) : new Date(until.getTime() - DEFAULT_WINDOW_MS[f.bucket]);
  if (since >= until) throw new SearchError("since must be before until");
  const first = truncate(since, f.bucket);
  const buckets = Math.ceil((until.getTime() - first.getTime()) / BUCKET_MS[f.bucket]);
  if (buckets > MAX_BUCKETS) throw new SearchError(`the window spans ${buckets} ${f.bucket}s; at most ${MAX_BUCKETS}`);
  const conditions = filterConditions({ ...f, since: since.toISOString(), until: until.toISOString() });
  // Decisions only: a `task/end` record (kind filter absent) is an event, not a deny to chart.
  if (!f.kind) conditions.push(inArray(decisions.kind, DECISION_KINDS));
  const where = whereAll(conditions);

  const counts = sql`count(*) FILTER (WHERE ${decisions.decision} = 'allow')::int AS allow, count(*) FILTER (WHERE ${decisions.decision} = 'deny')::int AS deny`;
  const top = async <T>(cols: SQL, groupBy: SQL = cols): Promise<(T & { allow: number; deny: number })[]> =>
    rowsOf<T & { allow: number; deny: number }>(
      await db.execute(sql`SELECT ${cols}, ${counts} FROM ${decisions} WHERE ${where ?? sql`true`}
        GROUP BY ${groupBy} ORDER BY deny DESC, allow DESC LIMIT ${f.top}`),
    );

  const seriesRows = rowsOf<{ t: string | Date; allow: number; deny: number }>(
    await db.execute(sql`SELECT date_trunc(${f.bucket}, ${decisions.time}, 'UTC') AS t, ${counts}
      FROM ${decisions} WHERE ${where ?? sql`true`} GROUP BY 1`),
  );
  const byTime = new Map(seriesRows.map((r) => [new Date(r.t).getTime(), r]));
  const series = Array.from({ length: buckets }, (_, i) => {
    const t = first.getTime() + i * BUCKET_MS[f.bucket];
    const r = byTime.get(t);
    return { time: new Date(t).toISOString(), allow: Number(r?.allow ?? 0), deny: Number(r?.deny ?? 0) };
  });
  const num = <T extends { allow: number; deny: number }>(r: T): T => ({ ...r, allow: Number(r.allow), deny: Number(r.deny) });
  return {
    bucket: f.bucket,
    since: since.toISOString(),
    until: until.toISOString(),
    totals: series.reduce((a, s) => ({ allow: a.allow + s.allow, deny: a.deny + s.deny }), { allow: 0, deny: 0 }),
    series,
    tools: (await top<{ server: string; tool: string }>(sql`${decisions.server}, ${decisions.tool}`)).map(num),
    agents: (await top<{ agent: string }>(sql`${decisions.agent}`)).map(num),
    users: (await top<{ user: string | null }>(sql`${decisions.userId} AS "user"`, sql`${decisions.userId}`)).map(num),
  };
}
