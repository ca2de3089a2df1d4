import { sql } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chainHeadVerifier, verifyStream } from "../../src/audit/verify.js";
import { DecisionLog } from "../../src/decision-log/writer.js";
import { dropExpiredPartitions, listDecisionPartitions, rowsOf, utcDay } from "../../src/decision-log/partitions.js";
import { createTestApp, examplePolicySet, type TestApp } from "../helpers/app.js";
import { recordToolCall } from "../helpers/decisions.js";

const DAY = 86_400_000;
let t: TestApp;
/** When the test database was created and migrated: the migration makes the first partitions. */
let migratedBetween: [number, number];
beforeAll(async () => {
  const before = Date.now();
  t = await createTestApp();
  migratedBetween = [before, Date.now()];
});
afterAll(async () => {
  await t.close();
});

const read = (log: DecisionLog, time: Date, path = "/srv/runbooks/a.md") =>
  recordToolCall(log, examplePolicySet(), { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path } }, { time });

describe("time partitions and retention", () => {
  it("decisions is partitioned by range on time, with daily partitions from yesterday to a week ahead", async () => {
    const db = t.db.database.db;
    const [kind] = rowsOf<{ strategy: string }>(
      await db.execute(sql`SELECT partstrat AS strategy FROM pg_partitioned_table WHERE partrelid = 'decisions'::regclass`),
    );
    expect(kind?.strategy).toBe("r");
    const names = (await listDecisionPartitions(db)).map((p) => p.name);
    // Days are counted from the migration's UTC day, not from whenever this line runs (which can
    // be after midnight). Only when the migration itself straddled midnight is that day one of two.
    const window = (day: string) => Array.from({ length: 9 }, (_, i) => `decisions_p${utcDay(new Date(Date.parse(day) + (i - 1) * DAY)).replaceAll("-", "")}`);
    const candidates = [...new Set(migratedBetween.map((at) => utcDay(new Date(at))))].map(window);
    expect(candidates.filter((days) => days.every((n) => names.includes(n))), `partitions ${names.join(", ")}`).toHaveLength(1);
  });

  it("creates a missing partition on demand when a decision falls outside the prepared days", async () => {
    const log = new DecisionLog(t.db.database, { logger: pino({ level: "silent" }) });
    const far = new Date(Date.now() + 40 * DAY);
    const rec = await read(log, far);
    expect(rec.seq).toBe(1);
    const names = (await listDecisionPartitions(t.db.database.db)).map((p) => p.name);
    expect(names).toContain(`decisions_p${utcDay(far).replaceAll("-", "")}`);
    await log.close();
  });

  it("drops whole partitions older than the retention, and the rest of each chain still verifies", async () => {
    const db = t.db.database.db;
    const log = new DecisionLog(t.db.database, { logger: pino({ level: "silent" }) });
    const now = Date.now();
    const old1 = await read(log, new Date(now - 12 * DAY));
    const old2 = await read(log, new Date(now - 11 * DAY));
    const kept = await read(log, new Date(now - 2 * DAY));
    await read(log, new Date(now));
    await log.close();

    const dropped = await dropExpiredPartitions(db, 10, new Date(now));
    expect(dropped).toEqual([`decisions_p${utcDay(new Date(now - 12 * DAY)).replaceAll("-", "")}`, `decisions_p${utcDay(new Date(now - 11 * DAY)).replaceAll("-", "")}`]);
    const left = rowsOf<{ id: string }>(await db.execute(sql`SELECT id::text AS id FROM decisions WHERE stream = ${log.streamId}`)).map((r) => r.id);
    expect(left).not.toContain(old1.id);
    expect(left).not.toContain(old2.id);
    expect(left).toContain(kept.id);

    const verify = await chainHeadVerifier(db);
    const report = await verifyStream(db, log.streamId, verify);
    expect(report).toMatchObject({ ok: true, prunedThrough: 2, firstSeq: 3, lastSeq: 4 });

    // Retention is recorded, not assumed: deleting the first kept record is still caught.
    await db.execute(sql`DELETE FROM decisions WHERE id = ${kept.id}::uuid`);
    expect((await verifyStream(db, log.streamId, verify)).problem).toMatchObject({ kind: "missing", seq: 3 });
  });
});
