/**
 * A private Postgres cluster for tests that must stop and restart the database (the outage
 * test): `initdb` into a temporary directory, a free port on 127.0.0.1, `pg_ctl` to start and
 * stop it. The shared server on 127.0.0.1:5432 is never touched. Postgres refuses to run as
 * root, so when the tests run as root the binaries run as the `postgres` OS user.
 */
import { execFile } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Where Debian's PostgreSQL 15 server binaries live. */
export const PG_BIN = process.env.VERDICT_TEST_PG_BIN ?? "/usr/lib/postgresql/15/bin";

/** A port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A running private cluster and its controls. */
export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** `pg_ctl start` (waits until it accepts connections). */
  start(): Promise<void>;
  /** `pg_ctl stop -m <mode>`; `immediate` is a crash as far as clients can tell. */
  stop(mode?: "smart" | "fast" | "immediate"): Promise<void>;
  /** Stops the cluster if it runs and removes its directory. */
  destroy(): Promise<void>;
}

/** Creates, initialises and starts a private cluster. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const asRoot = userInfo().uid === 0;
  const dir = mkdtempSync(join(tmpdir(), "verdict-pg-"));
  const data = join(dir, "data");
  if (asRoot) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
    chmodSync(dir, 0o700);
  }
  const pg = (bin: string, args: string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", join(PG_BIN, bin), ...args], { cwd: dir }) : run(join(PG_BIN, bin), args, { cwd: dir });

  const port = await freePort();
  await pg("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "--no-instructions", "-E", "UTF8"]);
  // fsync=off is safe here: an immediate stop kills processes, not the kernel, so what was
  // written survives. synchronous_commit must stay on, or acknowledged commits could be lost.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  let running = false;
  const cluster: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start: async () => {
      await pg("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "server.log"), "-w", "-t", "60", "start"]);
      running = true;
    },
    stop: async (mode = "fast") => {
      await pg("pg_ctl", ["-D", data, "-m", mode, "-w", "-t", "60", "stop"]);
      running = false;
    },
    destroy: async () => {
      if (running) await cluster.stop("immediate").catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await cluster.start();
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return cluster;
}
