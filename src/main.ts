/**
 * Runs Verdict as a process: parse the environment, start the server, and shut down cleanly on
 * SIGTERM or SIGINT (stop accepting, answer what is in flight, commit what is queued, exit).
 * `src/index.ts` (`npm start`) and `verdict serve` call it.
 *
 * With `VERDICT_WORKERS` above 1, this process becomes a Node cluster primary that forks that
 * many server processes on the same port: a decision is CPU-bound in one thread (cedar-wasm), so
 * a process per core is how Verdict uses the machine. Each worker holds its own preparsed engine
 * and writes its own decision-log stream (one writer per stream keeps each hash chain linear).
 * The primary restarts a worker that dies, and passes SIGTERM on to all of them.
 */
import cluster from "node:cluster";
import pino from "pino";
import { ConfigError, loadConfig } from "./config.js";
import { PolicySetError } from "./policy/issues.js";
import { startServer, type StartOptions } from "./server.js";

/** Starts Verdict from the environment; exits the process on bad configuration or an invalid policy set. */
export async function runVerdict(options: StartOptions = {}): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  const logger = pino({ level: config.logLevel });
  if ((config.workers ?? 1) > 1 && cluster.isPrimary) {
    superviseWorkers(config.workers!, logger);
    return;
  }
  let running;
  try {
    running = await startServer(config, logger, options);
  } catch (e) {
    if (e instanceof PolicySetError) logger.fatal(e.message);
    else logger.fatal({ err: e instanceof Error ? e.message : String(e) }, "verdict could not start");
    process.exit(1);
  }
  let shuttingDown = false;
  const shutdown = (signal: string) => {
    // A cluster worker can get a signal twice (from the terminal and from its primary).
    if (shuttingDown) return;
    shuttingDown = true;
    // stop() closes the listening socket before it returns, so once this line is logged no new
    // connection is accepted.
    const stopped = running.stop();
    logger.info({ signal }, "shutting down: no new connections; finishing in-flight requests and queued decisions");
    stopped
      .then(() => {
        logger.info("stopped");
        process.exit(0);
      })
      .catch((e) => {
        logger.error({ err: String(e) }, "shutdown failed");
        process.exit(1);
      });
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

/** Forks `count` workers, replaces any that dies unexpectedly, and stops them all on a signal. */
function superviseWorkers(count: number, logger: pino.Logger): void {
  let stopping = false;
  for (let i = 0; i < count; i++) cluster.fork();
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    // A worker that cannot start (invalid policy set, no database) would fail again: stop.
    if (code === 1) {
      logger.fatal({ pid: worker.process.pid }, "worker could not start; stopping");
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
      process.exitCode = 1;
      return;
    }
    logger.error({ pid: worker.process.pid, code, signal }, "worker died; starting another");
    cluster.fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    logger.info({ signal, workers: count }, "stopping workers");
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
