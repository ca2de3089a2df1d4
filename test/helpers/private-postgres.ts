/**
 * A private Postgres cluster for tests that must stop and restart the database (the outage
 * test): `initdb` into a temporary directory, `pg_ctl` to start and stop it. It listens on a
 * Unix-domain socket in that directory and on no TCP port: Postgres cannot be told to pick a
 * free port itself (port 0), and a port probed free and then released can be taken by another
 * process before Postgres binds it, so a socket path nobody else can use replaces the port. The
 * shared server on 127.0.0.1:5432 is never touched. Postgres refuses to run as root, so when the
 * tests run as root the binaries run as the `postgres` OS user.
 */
import { execFile } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Where Debian's PostgreSQL 15 server binaries live. */
export const PG_BIN = process.env.VERDICT_TEST_PG_BIN ?? "/usr/lib/postgresql/15/bin";

/** A running private cluster and its controls. */
export interface PrivatePostgres {
  /** `postgres://postgres@localhost/postgres?host=<the cluster's directory>` (the Unix socket's directory) */
  url: string;
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

  await pg("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "--no-instructions", "-E", "UTF8"]);
  // fsync=off is safe here: an immediate stop kills processes, not the kernel, so what was
  // written survives. synchronous_commit must stay on, or acknowledged commits could be lost.
  // The socket is `<dir>/.s.PGSQL.5432`; 5432 only names it (no TCP: listen_addresses is empty).
  const options = `-p 5432 -k ${dir} -c listen_addresses='' -c fsync=off`;
  let running = false;
  const cluster: PrivatePostgres = {
    url: `postgres://postgres@localhost/postgres?host=${encodeURIComponent(dir)}`,
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
