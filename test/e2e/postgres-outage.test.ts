/**
 * Postgres goes away while decisions are flowing, and comes back. Every answer must be either a
 * decision that is in the database or a 503 (never an unrecorded allow), and once Postgres is
 * back, decisions must flow again without restarting Verdict. Runs against a private cluster of
 * its own, whatever DATABASE_URL says: the shared server on 5432 is never stopped.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordHash } from "../../src/decision-log/record.js";
import { fromRow } from "../../src/decision-log/row.js";
import { startPrivatePostgres, type PrivatePostgres } from "../helpers/private-postgres.js";
import { TEST_ADMIN_KEY } from "../helpers/app.js";
import { startTestVerdict, type TestVerdict } from "../helpers/verdict.js";

const headers = { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_KEY}` };

let cluster: PrivatePostgres;
let verdict: TestVerdict;

beforeAll(async () => {
  cluster = await startPrivatePostgres();
  verdict = await startTestVerdict({ databaseUrl: cluster.url });
});

afterAll(async () => {
  await verdict?.stop();
  await cluster?.destroy();
});

interface Answer {
  phase: "before" | "down" | "after";
  status: number;
  body: { decision?: string; decisionId?: string; error?: { code: string; message: string } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Postgres outage", () => {
  it("answers only recorded decisions or 503s, and recovers by itself when Postgres returns", async () => {
    const answers: Answer[] = [];
    const transportErrors: string[] = [];
    let phase: Answer["phase"] = "before";
    let stopLoad = false;
    let n = 0;

    const worker = async () => {
      while (!stopLoad) {
        const i = n++;
        const body = i % 3 === 0
          ? { agent: "code-assistant", server: "everything", tool: "get-env", arguments: {} }
          : { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: `/srv/runbooks/${i}.md` } };
        const at = phase;
        try {
          const res = await fetch(`${verdict.url}/v1/mcp/tools/call`, { method: "POST", headers, body: JSON.stringify(body) });
          answers.push({ phase: at, status: res.status, body: await res.json() });
        } catch (e) {
          transportErrors.push(String(e));
        }
        if (phase === "down") await sleep(5); // keep the failing phase from spinning the CPU
      }
    };
    // Safety net: the load stops by itself whatever happens below.
    const deadline = setTimeout(() => (stopLoad = true), 60_000);
    const workers = Array.from({ length: 8 }, worker);

    const countWhere = (p: Answer["phase"], status: number) => answers.filter((a) => a.phase === p && a.status === status).length;
    const waitFor = async (cond: () => boolean, ms: number) => {
      const until = Date.now() + ms;
      while (!cond() && Date.now() < until) await sleep(20);
    };

    await waitFor(() => countWhere("before", 200) >= 100, 20_000);
    phase = "down";
    await cluster.stop("immediate");
    await waitFor(() => countWhere("down", 503) >= 50, 20_000);

    const readyDown = await fetch(`${verdict.url}/readyz`, { headers });
    expect(readyDown.status).toBe(503);
    // The details need a valid key, and the database that holds the keys is down: they show only
    // while the admin key is still in the key cache (5 s).
    const down = await readyDown.json();
    expect(down.status).toBe("not ready");
    if ("database" in down) expect(down.database.status).toMatch(/^unreachable/);

    await cluster.start();
    phase = "after";
    await waitFor(() => countWhere("after", 200) >= 100, 30_000);
    stopLoad = true;
    clearTimeout(deadline);
    await Promise.all(workers);

    const readyUp = await fetch(`${verdict.url}/readyz`, { headers });
    expect(readyUp.status).toBe(200);

    expect(transportErrors).toEqual([]);
    // Every answer is a decision or a 503 with the error body, nothing else.
    const odd = answers.filter(
      (a) =>
        !(a.status === 200 && typeof a.body.decisionId === "string" && (a.body.decision === "allow" || a.body.decision === "deny")) &&
        !(a.status === 503 && a.body.error?.code === "unavailable" && typeof a.body.error.message === "string"),
    );
    expect(odd).toEqual([]);
    expect(countWhere("before", 200)).toBeGreaterThanOrEqual(100);
    expect(countWhere("down", 503)).toBeGreaterThanOrEqual(50);
    expect(countWhere("after", 200)).toBeGreaterThanOrEqual(100);

    // Every 200 is in the database; the hash chain of every stream is continuous.
    const client = new pg.Client({ connectionString: cluster.url });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT * FROM decisions");
      const records = rows.map((r) =>
        fromRow({
          ...r,
          userId: r.user_id,
          argumentsSha256: r.arguments_sha256,
          taskId: r.task_id,
          policySetVersion: r.policy_set_version,
          requestId: r.request_id,
          evaluationMicros: r.evaluation_micros,
          prevHash: r.prev_hash,
          credentialJti: r.credential_jti,
          seq: Number(r.seq),
        }),
      );
      const ids = new Set(records.map((r) => r.id));
      const answered = answers.filter((a) => a.status === 200).map((a) => a.body.decisionId!);
      expect(answered.filter((id) => !ids.has(id))).toEqual([]);
      const allowed = answers.filter((a) => a.status === 200 && a.body.decision === "allow");
      expect(allowed.length).toBeGreaterThan(0);

      const streams = new Map<string, typeof records>();
      for (const r of records) streams.set(r.stream, [...(streams.get(r.stream) ?? []), r]);
      expect(streams.size).toBeGreaterThanOrEqual(2); // the writer started a new stream after the failure
      for (const chain of streams.values()) {
        chain.sort((a, b) => a.seq - b.seq);
        chain.forEach((r, i) => {
          expect(r.seq).toBe(i + 1);
          expect(r.prevHash).toBe(i === 0 ? null : chain[i - 1]!.hash);
          const { hash, ...rest } = r;
          expect(recordHash(rest)).toBe(hash);
        });
      }
    } finally {
      await client.end();
    }
  }, 120_000);
});
