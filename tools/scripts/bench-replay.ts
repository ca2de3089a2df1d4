/**
 * Replay throughput: records N synthetic decisions (default 100,000) in a fresh database
 * (DATABASE_URL's server, else in-memory PGlite), then replays them against a candidate that
 * flips 30% of them, twice: as recorded (10 kinds of request, repeating), and with distinct
 * arguments on most requests (the engine evaluates each). Prints decisions per second; the
 * goal is at least 2,000/s. Usage: `npm run bench:replay [-- <count>]`.
 */
import { loadavg } from "node:os";
import { openDatabase } from "../../src/db/client.js";
import { buildPolicySet } from "../../src/policy/build.js";
import { readSources } from "../../src/policy/sources.js";
import { replay } from "../../src/policy-versions/replay.js";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR } from "../../test/helpers/app.js";
import { createPostgresDatabase } from "../../test/helpers/db.js";
import { CANDIDATE_POLICIES, expectedFlips, insertSyntheticDecisions } from "../../test/helpers/synthetic-decisions.js";

const count = Number(process.argv[2] ?? 100_000);
const GOAL = 2_000;
const base = readSources(EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR);
const baseline = buildPolicySet(base);
const candidate = buildPolicySet({ ...base, policies: { ...base.policies, "candidate.cedar": CANDIDATE_POLICIES } });
const want = expectedFlips(1, count);

let failed = false;
for (const distinct of [false, true]) {
  const pgDb = process.env.DATABASE_URL ? await createPostgresDatabase() : null;
  const database = await openDatabase(pgDb ? { url: pgDb.url, dataDir: "unused" } : { dataDir: "memory://" });
  try {
    const t0 = performance.now();
    await insertSyntheticDecisions(database.db, { count, start: new Date("2026-06-01T00:00:00Z"), version: baseline.version, distinct });
    const label = distinct ? "distinct arguments" : "as recorded (repeating requests)";
    process.stdout.write(`${database.kind}, ${label}: inserted ${count} in ${((performance.now() - t0) / 1000).toFixed(1)} s; replaying ...\n`);
    const r = await replay(database.db, candidate);
    const exact = r.flips.allowToDeny === want.allowToDeny && r.flips.denyToAllow === want.denyToAllow;
    failed ||= !exact || r.perSecond < GOAL;
    console.log(
      `  replayed ${r.replayed} in ${(r.durationMs / 1000).toFixed(1)} s: ${r.perSecond} decisions/s (goal ${GOAL}) ` +
        `flips ${r.flips.allowToDeny} allow→deny, ${r.flips.denyToAllow} deny→allow (${exact ? "exact" : `WRONG, expected ${JSON.stringify(want)}`})`,
    );
  } finally {
    await database.close();
    await pgDb?.drop();
  }
}
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(" ")} on this machine while measuring`);
process.exitCode = failed ? 1 : 0;
