/**
 * The CLI's HTTP client for a running Verdict (publish, versions, activate, diff, replay).
 * `--url` (or `VERDICT_URL`) names the server; `--key` (or `VERDICT_API_KEY`, else
 * `VERDICT_ADMIN_KEY`) is sent as `Authorization: Bearer <key>`.
 */
import { Option, type Command } from "commander";
import { CliError } from "./output.js";

/** Where to reach Verdict. */
export interface ServerOptions {
  url: string;
  key?: string;
}

/** Adds `--url` and `--key` to a command. */
export function serverOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--url <url>", "Verdict's base URL").env("VERDICT_URL").default("http://127.0.0.1:8700"))
    .addOption(new Option("--key <key>", "API key, sent as a bearer token (or VERDICT_API_KEY / VERDICT_ADMIN_KEY)").env("VERDICT_API_KEY"));
}

function headers(opts: ServerOptions, extra: Record<string, string> = {}): Record<string, string> {
  const key = opts.key ?? process.env.VERDICT_ADMIN_KEY;
  return { ...(key ? { authorization: `Bearer ${key}` } : {}), ...extra };
}

/**
 * Sends a request to Verdict and returns the response (its body unread).
 * @throws CliError when Verdict cannot be reached, or answers with an error (its message)
 */
export async function send(opts: ServerOptions, method: string, path: string, body?: unknown, accept?: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(new URL(path, opts.url), {
      method,
      headers: headers(opts, { ...(body === undefined ? {} : { "content-type": "application/json" }), ...(accept ? { accept } : {}) }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new CliError(`cannot reach Verdict at ${opts.url}: ${(e as Error).cause ?? (e as Error).message}`);
  }
  if (!res.ok) {
    const text = await res.text();
    let message = text;
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message;
    } catch {
      // not Verdict's error shape: show the body as it came
    }
    throw new CliError(`${method} ${path}: ${res.status}: ${message}`);
  }
  return res;
}

/** {@link send}, then the JSON body. */
export async function api<T>(opts: ServerOptions, method: string, path: string, body?: unknown): Promise<T> {
  return (await send(opts, method, path, body)).json() as Promise<T>;
}
