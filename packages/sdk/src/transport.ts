/**
 * How the SDK reaches Verdict. A transport sends one JSON request and returns the parsed JSON
 * body of a 200, or the failure; it never throws. `HttpTransport` is the default, over `fetch`.
 */
import { ErrorBody } from "./wire.js";
import type { FailureCause } from "./errors.js";

/** The outcome of one request: the body of a 200, or why there is none. */
export type TransportResult = { ok: true; body: unknown } | { ok: false; cause: FailureCause };

/** One request to Verdict's HTTP API. */
export interface TransportRequest {
  method: "GET" | "POST";
  /** Path with query string, e.g. `/v1/decisions?agent=x`. */
  path: string;
  /** JSON body for POST. */
  body?: unknown;
  /** Extra headers: the W3C `traceparent`/`tracestate` of the caller's trace, when it has one. */
  headers?: Record<string, string>;
}

/** Sends requests to Verdict. Implementations must not throw: every failure is a `TransportResult`. */
export interface Transport {
  send(request: TransportRequest): Promise<TransportResult>;
}

/** Options of `HttpTransport`. */
export interface HttpTransportOptions {
  /** Verdict's base URL, e.g. `http://127.0.0.1:8700`. */
  baseUrl: string;
  /** An API key, sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Milliseconds to wait for a whole answer (headers and body); default 2000. */
  timeout?: number;
  /** The `fetch` to use (default: the global one); inject one for proxies, tests or other runtimes. */
  fetch?: typeof globalThis.fetch;
}

/** Default timeout of a request to Verdict, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 2000;

/** The HTTP transport: JSON over `fetch`, with a timeout covering the whole exchange. */
export class HttpTransport implements Transport {
  readonly #baseUrl: string;
  readonly #headers: Record<string, string>;
  readonly #timeout: number;
  readonly #fetch: typeof globalThis.fetch;

  constructor(options: HttpTransportOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#headers = { accept: "application/json" };
    if (options.apiKey) this.#headers.authorization = `Bearer ${options.apiKey}`;
    this.#timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /** Sends one request; resolves with the parsed body of a 200 or the failure, never rejects. */
  async send(request: TransportRequest): Promise<TransportResult> {
    const signal = AbortSignal.timeout(this.#timeout);
    const url = this.#baseUrl + request.path;
    try {
      // The transport's own headers (the API key) win over a request's.
      const headers = { ...request.headers, ...this.#headers };
      let body: string | undefined;
      if (request.body !== undefined) {
        body = JSON.stringify(request.body);
        headers["content-type"] = "application/json";
      }
      const response = await this.#fetch(url, { method: request.method, headers, body, signal });
      const text = await response.text();
      if (response.status !== 200) {
        const parsed = ErrorBody.safeParse(tryJson(text));
        const detail = parsed.success ? `: ${parsed.data.error.code}: ${parsed.data.error.message}` : "";
        return {
          ok: false,
          cause: {
            kind: "http",
            status: response.status,
            message: `Verdict answered HTTP ${response.status}${detail}`,
            ...(parsed.success ? { error: parsed.data.error } : {}),
          },
        };
      }
      const json = tryJson(text);
      if (json === undefined) return { ok: false, cause: { kind: "invalid-response", message: "Verdict's answer is not JSON" } };
      return { ok: true, body: json };
    } catch (e) {
      // The signal tells a timeout apart from other aborts and failures, whatever fetch threw.
      if (signal.aborted) return { ok: false, cause: { kind: "timeout", message: `no answer from ${url} within ${this.#timeout} ms` } };
      const reason = e instanceof Error ? (e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message) : String(e);
      return { ok: false, cause: { kind: "network", message: `cannot reach ${url}: ${reason}` } };
    }
  }
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
