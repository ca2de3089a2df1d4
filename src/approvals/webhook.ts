/**
 * Tells people that a call waits for their approval (DESIGN.md "Approvals bound to the exact
 * call", docs/operations.md `VERDICT_APPROVAL_WEBHOOK_URL`): each new approval request is POSTed
 * as JSON to one URL, `{"text": "...", "approval": Approval}`. `text` is what a Slack-compatible
 * incoming webhook shows; `approval` is the request as `GET /v1/approvals/{id}` answers it.
 *
 * - **Never in the decision's way.** {@link ApprovalWebhook.notify} only queues and returns; it
 *   never throws and never waits. A receiver that is slow, down or refusing changes no answer.
 * - **Retried, bounded.** Up to {@link WEBHOOK_ATTEMPTS} attempts (p-retry), waiting 1 s then 2 s
 *   between them, each attempt at most {@link WEBHOOK_TIMEOUT_MS}; retried on network errors,
 *   timeouts, 5xx and 429, not on another 4xx (or a redirect, which is not followed). At most
 *   {@link WEBHOOK_CONCURRENCY} POSTs at once and {@link WEBHOOK_MAX_PENDING} requests waiting or
 *   in flight (p-queue); past that the newest is dropped, counted and logged.
 * - **Counted.** {@link ApprovalWebhook.stats}: delivered (`sent`), given up on (`failed`), never
 *   tried (`dropped`: the queue was full, or the notifier was closing).
 * - The URL itself (often a secret, as Slack's are) is never logged: only its origin.
 */
import type { Logger } from "pino";
import PQueue from "p-queue";
import pRetry, { AbortError } from "p-retry";
import type { Approval } from "../contract/approvals.js";
import { VERSION } from "../paths.js";

/** Attempts per request, the first included. */
export const WEBHOOK_ATTEMPTS = 3;
/** The wait before the first retry, in ms; it doubles for each further one. */
export const WEBHOOK_BACKOFF_MS = 1_000;
/** How long one attempt may take, in ms. */
export const WEBHOOK_TIMEOUT_MS = 5_000;
/** Requests waiting or in flight at most; more are dropped. */
export const WEBHOOK_MAX_PENDING = 1_000;
/** POSTs in flight at once. */
export const WEBHOOK_CONCURRENCY = 4;
/** How long {@link ApprovalWebhook.close} waits for POSTs in flight by default, in ms. */
export const WEBHOOK_CLOSE_MS = 5_000;
/** At most one "dropped" warning this often, in ms (a flood would otherwise flood the log too). */
const DROP_WARN_MS = 10_000;

/** What the webhook POSTs. */
export interface ApprovalWebhookPayload {
  /** One line for people (Slack `text`: `&`, `<` and `>` of the call's values escaped). */
  text: string;
  approval: Approval;
}

/** Counters of the notifier since it was made. */
export interface ApprovalWebhookStats {
  /** Requests the receiver took (a 2xx answer). */
  sent: number;
  /** Requests given up on: every attempt failed, or a 4xx refused it. */
  failed: number;
  /** Requests never tried: the queue was full, or the notifier was closing. */
  dropped: number;
}

/** How to notify; the limits default to the constants above (tests shorten them). */
export interface ApprovalWebhookOptions {
  /** `VERDICT_APPROVAL_WEBHOOK_URL`. */
  url: string;
  /** Verdict's public URL (`VERDICT_PUBLIC_URL`, else the address it listens on), for the approve link. */
  publicUrl: () => string;
  logger: Logger;
  attempts?: number;
  backoffMs?: number;
  timeoutMs?: number;
  maxPending?: number;
  concurrency?: number;
}

/** Slack's escaping of text: a caller-chosen id must not become a `<!channel>` mention or a link. */
function escapeText(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Where a person opens the request in the explorer. */
export function approvalLink(publicUrl: string, id: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/ui/#approval=${encodeURIComponent(id)}`;
}

/**
 * The line people read, e.g. `Approval needed: incident-bot for alice wants payments/refund on
 * task REFUND-1 (denied by refunds-over-100-need-approval); a member of release-managers may
 * approve: https://verdict.example/ui/#approval=<id>`.
 */
export function approvalText(a: Approval, publicUrl: string): string {
  const c = a.call;
  const who = `${escapeText(c.agent)}${c.user === null ? "" : ` for ${escapeText(c.user)}`}`;
  const task = c.task ? ` on task ${escapeText(c.task.id)}` : "";
  const groups = a.groups.map(escapeText).join(" or ");
  return (
    `Approval needed: ${who} wants ${escapeText(`${c.server}/${c.tool}`)}${task} (denied by ${a.policies.map(escapeText).join(", ")}); ` +
    `a member of ${groups} may approve: ${approvalLink(publicUrl, a.id)}`
  );
}

/** An answer worth another attempt (the receiver is busy or broken, not refusing). */
class RetryableStatus extends Error {
  constructor(readonly status: number) {
    super(`the receiver answered ${status}`);
    this.name = "RetryableStatus";
  }
}

/** The POSTs of new approval requests to `VERDICT_APPROVAL_WEBHOOK_URL` (see the module comment). */
export class ApprovalWebhook {
  /** Live counters (read them, do not write them). */
  readonly stats: ApprovalWebhookStats = { sent: 0, failed: 0, dropped: 0 };
  readonly #options: Required<Omit<ApprovalWebhookOptions, "logger" | "publicUrl" | "url">>;
  readonly #url: string;
  readonly #origin: string;
  readonly #publicUrl: () => string;
  readonly #logger: Logger;
  readonly #queue: PQueue;
  /** Aborted by close(): no further attempt, no further wait between attempts. */
  readonly #stopRetrying = new AbortController();
  /** Aborted when close() stops waiting: the POSTs still in flight are cut. */
  readonly #cut = new AbortController();
  #closing: Promise<void> | null = null;
  #lastDropWarning = 0;

  /** @throws TypeError when `url` is not a URL */
  constructor(options: ApprovalWebhookOptions) {
    this.#url = options.url;
    this.#origin = new URL(options.url).origin;
    this.#publicUrl = options.publicUrl;
    this.#logger = options.logger;
    this.#options = {
      attempts: options.attempts ?? WEBHOOK_ATTEMPTS,
      backoffMs: options.backoffMs ?? WEBHOOK_BACKOFF_MS,
      timeoutMs: options.timeoutMs ?? WEBHOOK_TIMEOUT_MS,
      maxPending: options.maxPending ?? WEBHOOK_MAX_PENDING,
      concurrency: options.concurrency ?? WEBHOOK_CONCURRENCY,
    };
    this.#queue = new PQueue({ concurrency: this.#options.concurrency });
  }

  /** Requests waiting or in flight. */
  get pending(): number {
    return this.#queue.size + this.#queue.pending;
  }

  /**
   * Queues the POST of a new request and returns at once (the `onRequest` of ApprovalStore).
   * Never throws: a full queue or a closing notifier drops it (counted in `stats.dropped`).
   */
  notify(approval: Approval): void {
    try {
      if (this.#closing || this.pending >= this.#options.maxPending) {
        this.#drop(approval.id);
        return;
      }
      const payload: ApprovalWebhookPayload = { text: approvalText(approval, this.#publicUrl()), approval };
      this.#queue.add(() => this.#deliver(payload)).catch(() => undefined);
    } catch (e) {
      this.stats.dropped++;
      this.#logger.error({ approval: approval?.id, err: String(e) }, "approval webhook: could not queue the notification");
    }
  }

  /**
   * Stops: drops what waits, makes no further attempt, waits up to `waitMs` for the POSTs in
   * flight, then cuts them. Idempotent; never throws.
   */
  close(waitMs: number = WEBHOOK_CLOSE_MS): Promise<void> {
    return (this.#closing ??= (async () => {
      this.stats.dropped += this.#queue.size;
      this.#queue.clear();
      this.#stopRetrying.abort();
      let timer: NodeJS.Timeout | undefined;
      const waited = await Promise.race([
        this.#queue.onIdle().then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), waitMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
      if (!waited) {
        this.#cut.abort();
        await this.#queue.onIdle();
      }
    })());
  }

  #drop(id: string): void {
    this.stats.dropped++;
    const now = Date.now();
    if (now - this.#lastDropWarning < DROP_WARN_MS) return;
    this.#lastDropWarning = now;
    this.#logger.warn(
      { approval: id, webhook: this.#origin, dropped: this.stats.dropped, pending: this.pending, closing: this.#closing !== null },
      this.#closing ? "approval webhook: closing, notification dropped" : "approval webhook: queue full, notification dropped",
    );
  }

  /** One request, with its attempts; settles (never rejects) once it is sent or given up on. */
  async #deliver(payload: ApprovalWebhookPayload): Promise<void> {
    const id = payload.approval.id;
    const body = JSON.stringify(payload);
    let delivered = false;
    let attempts = 0;
    try {
      await pRetry(
        async () => {
          attempts++;
          await this.#post(body);
          // Counted here: p-retry rejects a success that lands after close() began.
          delivered = true;
          this.stats.sent++;
        },
        {
          retries: this.#options.attempts - 1,
          minTimeout: this.#options.backoffMs,
          factor: 2,
          signal: this.#stopRetrying.signal,
          unref: true,
          onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
            if (retriesLeft > 0 && !(error instanceof AbortError) && !this.#stopRetrying.signal.aborted) {
              this.#logger.debug({ approval: id, webhook: this.#origin, attempt: attemptNumber, err: error.message }, "approval webhook: attempt failed, retrying");
            }
          },
        },
      );
    } catch (e) {
      if (delivered) return;
      this.stats.failed++;
      this.#logger.warn({ approval: id, webhook: this.#origin, attempts, err: (e as Error)?.message ?? String(e) }, "approval webhook: notification not delivered");
    }
  }

  /**
   * One attempt.
   * @throws RetryableStatus for 5xx and 429; AbortError (no retry) for any other non-2xx;
   *   fetch's error for a network failure or a timeout (retried)
   */
  async #post(body: string): Promise<void> {
    const res = await fetch(this.#url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": `verdict/${VERSION}` },
      body,
      redirect: "manual",
      signal: AbortSignal.any([AbortSignal.timeout(this.#options.timeoutMs), this.#cut.signal]),
    });
    // The answer's body is not used; reading it frees the connection.
    await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return;
    if (res.status === 429 || res.status >= 500) throw new RetryableStatus(res.status);
    throw new AbortError(`the receiver answered ${res.status}`);
  }
}
