/**
 * The Postgres driver survives a connection that dies inside a transaction: the client is
 * released, and the database still closes. Before the fix in `src/db/client.ts`, a connection
 * cut between checkout and BEGIN was never released (drizzle-orm sends BEGIN outside its
 * try/finally), so `close()` waited forever: the outage test's teardown hung that way in CI.
 * A TCP proxy between the pool and the machine's Postgres cuts the connection the moment BEGIN
 * goes through it, which makes the failure exact instead of a race.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import { sql } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/client.js";
import { createPostgresDatabase, LOCAL_POSTGRES } from "../helpers/db.js";

interface CuttingProxy {
  url: string;
  /** When true, a connection is destroyed as soon as the client sends a statement containing BEGIN. */
  cutOnBegin: boolean;
  cuts: number;
  close(): Promise<void>;
}

async function startCuttingProxy(target: URL): Promise<CuttingProxy> {
  const sockets = new Set<Socket>();
  const proxy: CuttingProxy = { url: "", cutOnBegin: false, cuts: 0, close: async () => undefined };
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (chunk: Buffer) => {
      if (proxy.cutOnBegin && /begin/i.test(chunk.toString("latin1"))) {
        proxy.cuts++;
        cut();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    client.on("close", cut).on("error", cut);
    upstream.on("close", cut).on("error", cut);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const url = new URL(target);
  url.hostname = "127.0.0.1";
  url.port = String(typeof address === "object" && address ? address.port : 0);
  proxy.url = url.toString();
  proxy.close = () => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return proxy;
}

let pgDb: { url: string; drop(): Promise<void> };
let proxy: CuttingProxy;
let database: Database;
/** What the database client logged (its pool's errors, and a close that gave up on a client). */
const logged: Array<{ level: number; msg: string }> = [];

beforeAll(async () => {
  pgDb = await createPostgresDatabase(LOCAL_POSTGRES);
  proxy = await startCuttingProxy(new URL(pgDb.url));
  const logger = pino({ level: "warn" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  database = await openDatabase({ url: proxy.url, dataDir: "unused", logger });
});

afterAll(async () => {
  await proxy?.close();
  await pgDb?.drop();
});

describe("Postgres driver, connection lost in a transaction", () => {
  it("rejects the transaction, releases the client, and still closes", async () => {
    // an idle pooled connection that the next transaction checks out
    await database.db.execute(sql`SELECT 1`);
    proxy.cutOnBegin = true;
    // Rejected for the cut connection (its BEGIN never got an answer), not for any other fault.
    await expect(database.db.transaction(async (tx) => tx.execute(sql`SELECT 1`))).rejects.toMatchObject({
      message: expect.stringMatching(/^Failed query: begin/),
      cause: expect.objectContaining({ message: "Connection terminated unexpectedly" }),
    });
    expect(proxy.cuts).toBe(1);

    // Without the release, close() waits for the leaked client until its own give-up time
    // (src/db/client.ts) and then logs that the pool did not close: that log line, not a clock,
    // tells the two apart.
    await database.close();
    expect(logged.filter((l) => /did not close/.test(l.msg))).toEqual([]);
  });
});
