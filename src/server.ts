/**
 * Starts a Verdict server: opens the database (running migrations), loads the policy set,
 * starts the decision log and serves the API. `src/index.ts` calls it with the parsed
 * environment; tests call it to run a real server on a free port.
 */
import type { Server as HttpServer, ServerResponse } from "node:http";
import { Server as NetServer, type AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import pino, { type Logger } from "pino";
import { ApiKeyStore, type CreatedApiKey } from "./api-keys/store.js";
import { ApprovalStore } from "./approvals/store.js";
import { ApprovalWebhook } from "./approvals/webhook.js";
import type { Config } from "./config.js";
import { openDatabase, type Database } from "./db/client.js";
import { ChainCheckpointer } from "./audit/checkpoints.js";
import { DecisionCache } from "./cedar/decision-cache.js";
import { DecisionLog } from "./decision-log/writer.js";
import { Masking } from "./decision-log/masking.js";
import { maintainPartitions } from "./decision-log/partitions.js";
import { createApp } from "./http/app.js";
import { IdentityResolver } from "./identity/resolve.js";
import { Metrics } from "./metrics/metrics.js";
import { metricsListener } from "./metrics/routes.js";
import { TokenVerifier } from "./identity/token-verifier.js";
import { SigningKeys } from "./signing-keys/store.js";
import { ActivePolicySet } from "./policy/active.js";
import { loadPolicySet } from "./policy/build.js";
import type { PolicySet } from "./policy/policy-set.js";
import { watchPolicySet } from "./policy/watch.js";
import { activeVersion, loadVersion, PolicySetCache } from "./policy-versions/store.js";
import { PolicySetSync, type SyncOptions } from "./policy-versions/sync.js";
import { ToolDriftRegistry } from "./catalog/drift.js";
import { TaskHistory } from "./pdp/history.js";
import { TaskEnds } from "./tasks/ends.js";
import { startTracing } from "./tracing/tracing.js";

/** A running server. */
export interface RunningServer {
  url: string;
  port: number;
  database: Database;
  log: DecisionLog;
  checkpointer: ChainCheckpointer;
  policies: ActivePolicySet;
  apiKeys: ApiKeyStore;
  signingKeys: SigningKeys;
  logger: Logger;
  /** `http://host:port/metrics` of the keyless metrics listener (`VERDICT_METRICS_ADDR`), when configured. */
  metricsUrl?: string;
  /**
   * Stops accepting (the listening socket is closed before this returns), answers what is in
   * flight, writes what is queued, closes the database. Idempotent.
   */
  stop(): Promise<void>;
}

/** How often each replica re-reads the signing keys, so a rotation elsewhere reaches its JWKS. */
const SIGNING_KEY_REFRESH_MS = 15_000;
/** How long shutdown waits for in-flight requests before it closes every connection, in ms. */
const DRAIN_TIMEOUT_MS = 10_000;

/** How to start, beyond the configuration. */
export interface StartOptions {
  /**
   * Development mode: serve the files of `policyDir`/`schemaDir`, reload them on save, and
   * ignore activations in the database.
   */
  watch?: boolean;
  /** Tuning of the roll-out (poll intervals), for tests. */
  sync?: SyncOptions;
  /** Receives the text announcing a bootstrap admin key (default: stderr). */
  announce?: (text: string) => void;
}

/**
 * Which policy set a replica serves at start: the version activated in the database when there
 * is one (the fleet's), else the files. Files are never published implicitly: publishing is a
 * deliberate step (`verdict publish`), so a replica started from a stray checkout cannot change
 * what the fleet serves.
 * @throws PolicySetError when that set is invalid (Verdict does not start without one)
 */
async function initialPolicySet(config: Config, database: Database, cache: PolicySetCache, watch: boolean, logger: Logger): Promise<PolicySet> {
  const active = watch ? null : await activeVersion(database.db);
  const policySet = active ? (await loadVersion(database.db, active.version, cache)).policySet : loadPolicySet(config.policyDir, config.schemaDir);
  cache.remember(policySet);
  logger.info(
    { version: policySet.version, source: active ? "database" : "files", policies: policySet.policies.size, tools: policySet.tools.size },
    "policy set loaded",
  );
  for (const w of policySet.warnings) logger.warn(w, "policy warning");
  return policySet;
}

/**
 * During shutdown, idle keep-alive connections are closed every this many ms. Not at once:
 * a request a client has already sent on a fresh connection may not have been read yet, and
 * closing that connection as idle would drop it unanswered.
 */
const IDLE_SWEEP_MS = 250;

/**
 * Tells the operator the first admin key, once, on stderr and never through the logger (logs
 * are often shipped elsewhere; the key must not travel with them).
 */
export function announceBootstrapKey(created: CreatedApiKey, write: (text: string) => void = (t) => void process.stderr.write(t)): void {
  const line = "=".repeat(72);
  write(
    [
      "",
      line,
      "Verdict: no API key existed, so an admin key was created. It is shown only this once:",
      "",
      `    ${created.key}`,
      "",
      `(id ${created.info.id}). Send it as "Authorization: Bearer <key>". Create keys for gateways`,
      "with `verdict keys create --role pep --name <gateway>` or POST /v1/keys, then store this one",
      "safely or revoke it. To seed an admin key instead, set VERDICT_ADMIN_KEY.",
      line,
      "",
    ].join("\n"),
  );
}

/**
 * @throws PolicySetError when the policy set is invalid (Verdict does not start without one)
 * @throws when the database cannot be opened or migrated, or a JWKS file cannot be read
 */
export async function startServer(
  config: Config,
  logger: Logger = pino({ level: config.logLevel }),
  options: StartOptions = {},
): Promise<RunningServer> {
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, logger });
  logger.info({ driver: database.kind }, "database ready");
  const cache = new PolicySetCache();
  let policySet: PolicySet;
  try {
    policySet = await initialPolicySet(config, database, cache, options.watch ?? false, logger);
  } catch (e) {
    await database.close();
    throw e;
  }
  const apiKeys = new ApiKeyStore(database.db);
  const bootstrap = await apiKeys.ensureAdmin(config.adminKey);
  if (bootstrap) {
    logger.warn({ keyId: bootstrap.info.id }, "no API key existed: created a bootstrap admin key (printed once on stderr)");
    announceBootstrapKey(bootstrap, options.announce);
  }
  const signingKeys = await SigningKeys.open(database.db, { chainKey: config.signingKey, chainVerifyKeys: config.verifyKeys });
  const refresh = setInterval(() => {
    signingKeys.refresh().catch((e: Error) => logger.warn({ err: e.message }, "signing keys not refreshed"));
  }, SIGNING_KEY_REFRESH_MS);
  refresh.unref();
  const identity = new IdentityResolver(new TokenVerifier(config.issuers), config.requireVerified);
  logger.info({ issuers: config.issuers.map((i) => `${i.kind}:${i.issuer}`), requireVerified: config.requireVerified }, "identity");

  const partitions = maintainPartitions(database.db, {
    aheadDays: config.partitionsAheadDays,
    retentionDays: config.retentionDays,
    signer: signingKeys,
    onError: (e) => logger.error({ err: String(e) }, "partition maintenance failed"),
    onDropped: (names) => logger.info({ partitions: names }, "retention: dropped decision partitions"),
  });
  await partitions.ready;
  const log = new DecisionLog(database, { logger });
  const checkpointer = new ChainCheckpointer(database.db, log, signingKeys, {
    intervalMs: config.checkpointSeconds * 1000,
    everyRecords: config.checkpointRecords,
    logger,
  });
  checkpointer.start();
  // One cache for every version this replica serves: each engine keys its own answers apart.
  const decisionCache = config.decisionCache ? new DecisionCache(config.decisionCache) : null;
  policySet.engine.useDecisionCache(decisionCache);
  const policies = new ActivePolicySet(policySet);
  policies.onActivate((ps) => ps.engine.useDecisionCache(decisionCache));
  const drift = new ToolDriftRegistry(database.db);
  await drift.refresh();
  const masking = config.masking ? new Masking(config.masking) : undefined;
  let url = "";
  const history = new TaskHistory(database.db);
  const tasks = new TaskEnds(database.db, log);
  // Off unless an OTLP endpoint is configured: then no provider exists and no span is built.
  const tracing = config.otlpTracesUrl ? startTracing({ url: config.otlpTracesUrl }) : null;
  if (tracing) logger.info({ otlp: new URL(config.otlpTracesUrl!).origin }, "tracing: exporting verdict.decide spans over OTLP/HTTP");
  // A POST per new approval request when VERDICT_APPROVAL_WEBHOOK_URL is set; never in a decision's way.
  const webhook = config.approvalWebhookUrl ? new ApprovalWebhook({ url: config.approvalWebhookUrl, publicUrl: () => config.publicUrl ?? url, logger }) : null;
  if (webhook) logger.info({ webhook: new URL(config.approvalWebhookUrl!).origin }, "approvals: notifying new requests by webhook");
  const approvals = new ApprovalStore(database.db, log, { ttlSeconds: config.approvalTtlSeconds, masking, onRequest: webhook ? (a) => webhook.notify(a) : undefined });
  const metrics = new Metrics({ policies, pool: database.pool, drift, history, tasks, approvals, webhook: webhook ?? undefined, decisionCache: decisionCache ?? undefined, processMetrics: true });
  const app = createApp({
    policies,
    log,
    database,
    logger,
    apiKeys,
    signingKeys,
    identity,
    // The public URL (VERDICT_PUBLIC_URL, else the address listened on) is also the default `iss`.
    issuer: () => config.issuer ?? config.publicUrl ?? url,
    publicUrl: () => config.publicUrl ?? url,
    credentialTtlSeconds: config.credentialTtlSeconds,
    approvalTtlSeconds: config.approvalTtlSeconds,
    approvals,
    masking,
    drift,
    history,
    tasks,
    policySetCache: cache,
    tracer: tracing?.tracer,
    metrics,
    accessLog: config.accessLog,
  });
  const watcher = options.watch ? watchPolicySet(config, policies, logger) : null;
  const sync = options.watch ? null : new PolicySetSync({ db: database.db, policies, cache, drift, logger, databaseUrl: config.databaseUrl }, options.sync);
  await sync?.start();

  // Keyless /metrics for scrapers, on its own address (docs/observability.md); before the API
  // listens, so that an address that cannot be bound stops the start with nothing serving.
  let scrape: HttpServer | null = null;
  let metricsUrl: string | undefined;
  if (config.metricsAddr) {
    const { host, port: metricsPort } = config.metricsAddr;
    try {
      scrape = await metricsListener(metrics, host, metricsPort, logger);
    } catch (e) {
      clearInterval(refresh);
      watcher?.close();
      await sync?.stop();
      await webhook?.close(0);
      await log.close();
      partitions.stop();
      await checkpointer.stop().catch(() => undefined);
      await database.close();
      throw e;
    }
    metricsUrl = `http://${host.includes(":") ? `[${host}]` : host}:${(scrape.address() as AddressInfo).port}/metrics`;
    logger.info({ metricsUrl }, "metrics listening");
  }

  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
  });
  const http = server as HttpServer;
  const port = (server.address() as AddressInfo).port;
  url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ url }, "verdict listening");

  // Node's server.close() waits for every connection, and a busy keep-alive client (a gateway)
  // never lets its connection go idle, so shutdown would hang. While draining, every answer
  // carries `Connection: close`, so each connection ends after its in-flight request.
  let draining = false;
  const inFlight = new Set<ServerResponse>();
  http.on("request", (_req, res: ServerResponse) => {
    if (draining) res.setHeader("connection", "close");
    inFlight.add(res);
    res.once("close", () => inFlight.delete(res));
  });

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(refresh);
      watcher?.close();
      scrape?.closeAllConnections();
      scrape?.close();
      draining = true;
      for (const res of inFlight) if (!res.headersSent) res.setHeader("connection", "close");
      // net.Server's close stops listening without http.Server's immediate closing of idle
      // connections (see IDLE_SWEEP_MS); resolves once the last connection has ended.
      const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(http, () => resolve()));
      const sweep = setInterval(() => http.closeIdleConnections(), IDLE_SWEEP_MS);
      const deadline = setTimeout(() => {
        logger.warn({ inFlight: inFlight.size }, "drain timeout: closing the remaining connections");
        http.closeAllConnections();
      }, DRAIN_TIMEOUT_MS);
      try {
        await closed;
      } finally {
        clearInterval(sweep);
        clearTimeout(deadline);
      }
      await sync?.stop();
      // No request is served any more: the last notifications get a bounded wait, no retries.
      await webhook?.close();
      await log.close();
      // The last decisions' spans, flushed (bounded: a receiver that is down does not hold shutdown).
      await tracing?.shutdown();
      partitions.stop();
      // The last heads are signed after the log has drained, so the stream ends on a signature.
      await checkpointer.stop().catch((e) => logger.error({ err: String(e) }, "final chain checkpoint failed"));
      await database.close();
    })());
  return { url, port, database, log, checkpointer, policies, apiKeys, signingKeys, logger, metricsUrl, stop };
}
