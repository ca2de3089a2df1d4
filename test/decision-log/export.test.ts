import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CSV_COLUMNS } from "../../src/decision-log/export.js";
import { createTestApp, type TestApp } from "../helpers/app.js";
import { bulkInsertDecisions } from "../helpers/decisions.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const ROWS = 100_000;
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  const to = new Date();
  await bulkInsertDecisions(t.db.database.db, { count: ROWS, from: new Date(to.getTime() - 3 * 86_400_000), to, padBytes: 1000 });
  // Inserting 100,000 rows into the embedded database takes a while on a shared machine.
}, 600_000);
afterAll(async () => {
  await t.close();
});

/** Reads a streamed body, sampling the live JS heap (after a full GC) every 8 MB read. */
async function readMeasured(res: Response): Promise<{ bytes: number; lines: number; heapGrowth: number; firstLine: string }> {
  gc();
  const baseline = process.memoryUsage().heapUsed;
  let heapGrowth = 0;
  let bytes = 0;
  let lines = 0;
  let nextSample = 0;
  let firstLine = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    for (const b of chunk) if (b === 10) lines++;
    if (!firstLine.includes("\n") && firstLine.length < 65_536) firstLine += decoder.decode(chunk.subarray(0, 65_536));
    if (bytes >= nextSample) {
      gc();
      heapGrowth = Math.max(heapGrowth, process.memoryUsage().heapUsed - baseline);
      nextSample += 8 * 1024 * 1024;
    }
  }
  return { bytes, lines, heapGrowth, firstLine: firstLine.split("\n")[0]! };
}

describe("GET /v1/decisions/export", () => {
  it(`streams ${ROWS} decisions as JSON Lines with flat memory`, async () => {
    const res = await t.request("/v1/decisions/export?format=jsonl");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/x-ndjson");
    const m = await readMeasured(res);
    console.log(`export: ${ROWS} rows, ${(m.bytes / 1e6).toFixed(1)} MB, max live heap growth ${(m.heapGrowth / 1e6).toFixed(1)} MB`);
    expect(m.lines).toBe(ROWS);
    expect(m.bytes).toBeGreaterThan(100e6);
    // One keyset page (1000 rows, about 1.2 MB of JSON) is in memory at a time, a few at most
    // while in flight: the bound is a fraction of the data, which would not fit under it.
    expect(m.heapGrowth).toBeLessThan(m.bytes / 4);
    expect(m.heapGrowth).toBeLessThan(25e6);
    const first = JSON.parse(m.firstLine) as { id: string; request: { pad: string } };
    expect(first.request.pad).toHaveLength(1000);
  });

  it("exports CSV with a header and only the rows the filters select", async () => {
    const res = await t.request("/v1/decisions/export?format=csv&decision=deny&arg.path=/etc/shadow");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/csv");
    const text = await res.text();
    const lines = text.trimEnd().split("\n");
    expect(lines[0]).toBe(CSV_COLUMNS.join(","));
    // Denies are every 7th row, /etc paths every 1000th: rows 7000, 14000, ... 98000.
    expect(lines).toHaveLength(1 + Math.floor(ROWS / 7000));
    for (const l of lines.slice(1)) expect(l).toMatch(/\/etc\/shadow-\d+/);
  });

  it("answers 400 before streaming when a filter is invalid", async () => {
    const res = await t.request("/v1/decisions/export?format=xml");
    expect(res.status).toBe(400);
  });
});
