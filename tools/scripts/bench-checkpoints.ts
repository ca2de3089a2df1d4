/**
 * What signed chain heads cost the decision log under load (docs/tamper-evidence.md): N decisions
 * (default 20,000) appended by 200 concurrent callers, without and with the checkpointer at its
 * defaults (1,000 records, 5 s), on PGlite and, with DATABASE_URL, on Postgres (a fresh database
 * each run). Prints one JSON line per run: decisions/s, append latency p50/p99 (ms), heads written,
 * the largest gap between consecutive heads (records), and how often the writer waited for a head.
 *
 *   npx tsx tools/scripts/bench-checkpoints.ts
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test N=50000 npx tsx tools/scripts/bench-checkpoints.ts
 */
import { asc } from "drizzle-orm";
import pino from "pino";
import { v7 as uuidv7 } from "uuid";
import { ChainCheckpointer } from "../../src/audit/checkpoints.js";
import { openDatabase } from "../../src/db/client.js";
import { chainCheckpoints } from "../../src/db/audit-schema.js";
import { DecisionLog } from "../../src/decision-log/writer.js";
import { toRecord } from "../../src/pdp/decide.js";
import { SigningKeys } from "../../src/signing-keys/store.js";
import { evaluateToolCall } from "../../src/pdp/tool-call.js";
import { loadPolicySet } from "../../src/policy/build.js";
import { createPostgresDatabase } from "../../test/helpers/db.js";

const N = Number(process.env.N ?? 20_000);
const CALLERS = 200;
const policySet = loadPolicySet("policies", "schema");
const evaluation = evaluateToolCall(policySet, { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/db.md" } }, new Date());

async function run(url: string | undefined, withCheckpointer: boolean): Promise<void> {
  const pg = url ? await createPostgresDatabase(url) : undefined;
  const database = await openDatabase({ url: pg?.url, dataDir: "memory://" });
  const log = new DecisionLog(database, { logger: pino({ level: "silent" }) });
  const cp = withCheckpointer ? new ChainCheckpointer(database.db, log, await SigningKeys.open(database.db)) : null;
  cp?.start();
  const latencies: number[] = [];
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (issued < N) {
        issued++;
        const t0 = performance.now();
        await log.append(toRecord(evaluation, { id: uuidv7(), time: new Date(), caller: null, requestId: null, delegation: [], identity: null, credentialJti: null }));
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await cp?.stop();
  await log.close();
  const heads = await database.db.select({ seq: chainCheckpoints.seq }).from(chainCheckpoints).orderBy(asc(chainCheckpoints.seq));
  let gap = 0;
  heads.reduce((prev, h) => ((gap = Math.max(gap, h.seq - prev)), h.seq), 0);
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => Number(latencies[Math.floor(latencies.length * p)]!.toFixed(1));
  console.log(
    JSON.stringify({ driver: database.kind, checkpointer: withCheckpointer, decisionsPerSecond: Math.round(N / seconds), p50: pct(0.5), p99: pct(0.99), heads: heads.length, largestGap: gap, waits: cp?.stats.waits ?? null }),
  );
  await database.close();
  await pg?.drop();
}

for (const url of [undefined, process.env.DATABASE_URL].filter((u, i) => i === 0 || u)) {
  for (const withCheckpointer of [false, true, false, true]) await run(url, withCheckpointer);
}
