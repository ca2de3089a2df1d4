/**
 * The CLI's one HTTP client for a running Verdict (publish, versions, activate, rollback, diff,
 * replay, decisions export, audit verify --api, keys --url, approvals). `--url` names the
 * server, else `VERDICT_URL`, else {@link DEFAULT_URL}; `--key` is the API key, else the environment's
 * (`VERDICT_API_KEY`, `VERDICT_KEY` with a notice, `VERDICT_ADMIN_KEY`: see `loadCliConfig` in
 * `src/config.ts`), sent as `Authorization: Bearer <key>`. An error answer becomes a
 * {@link CliError} with the server's message (exit 1).
 */
import { Option, type Command } from "commander";
import { DEFAULT_URL, loadCliConfig } from "../config.js";
import { CliError } from "./output.js";

/** Where to reach Verdict, resolved. */
export interface ServerOptions {
  url: string;
  key?: string;
}

/** `--url` and `--key` as given on the command line (either may be absent). */
export interface ServerFlags {
  url?: string;
  key?: string;
}

/** What the 401 message tells the user to do. */
export const KEY_HINT = "set VERDICT_API_KEY or pass --key";

/** The `--url` option (no `.env()`: the environment is read by `src/config.ts`, see {@link serverOf}). */
export function urlOption(description = `Verdict's base URL (default: VERDICT_URL, else ${DEFAULT_URL}).`): Option {
  return new Option("--url <url>", description);
}

/** The `--key` option; its value is never shown in help. */
export function keyOption(description = "The API key, sent as Authorization: Bearer (default: VERDICT_API_KEY, else VERDICT_ADMIN_KEY)."): Option {
  return new Option("--key <key>", description);
}

/** Adds `--url` and `--key` to a command. */
export function serverOptions(cmd: Command): Command {
  return cmd.addOption(urlOption()).addOption(keyOption());
}

let noticesShown = false;

/**
 * The server a command talks to: `--url`, else `VERDICT_URL`, else {@link DEFAULT_URL}; `--key`,
 * else the environment's key (how it was read, e.g. from `VERDICT_KEY`, is noted on stderr once
 * per process). Empty values count as unset.
 */
export function serverOf(flags: ServerFlags): ServerOptions {
  const cli = loadCliConfig();
  if (!flags.key && !noticesShown) {
    for (const n of cli.notices) console.error(`verdict: ${n}`);
    noticesShown = true;
  }
  return { url: flags.url || cli.url || DEFAULT_URL, key: flags.key || cli.apiKey };
}

/**
 * Like {@link serverOf}, for commands that work on the database unless a server is named: the
 * server when `--url` or `VERDICT_URL` is given, else null.
 */
export function namedServerOf(flags: ServerFlags): ServerOptions | null {
  const url = flags.url || loadCliConfig().url;
  return url ? serverOf({ ...flags, url }) : null;
}

/**
 * Sends a request to Verdict and returns the response (its body unread).
 * @param accept the `Accept` header, e.g. `application/x-ndjson` for a streamed answer
 * @throws CliError when Verdict cannot be reached, or answers with an error: `<METHOD> <path>:
 *   <status>: <Verdict's message>`, with {@link KEY_HINT} on a 401
 */
export async function send(server: ServerOptions, method: string, path: string, body?: unknown, accept?: string): Promise<Response> {
  const headers: Record<string, string> = {
    ...(server.key ? { authorization: `Bearer ${server.key}` } : {}),
    ...(body === undefined ? {} : { "content-type": "application/json" }),
    ...(accept ? { accept } : {}),
  };
  let res: Response;
  try {
    res = await fetch(new URL(path, server.url), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new CliError(`cannot reach Verdict at ${server.url}: ${(e as Error).cause ?? (e as Error).message}`);
  }
  if (!res.ok) {
    const text = await res.text();
    let message = text;
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message;
    } catch {
      // not Verdict's error shape: show the body as it came
    }
    throw new CliError(`${method} ${path}: ${res.status}: ${message}${res.status === 401 ? `; ${KEY_HINT}` : ""}`);
  }
  return res;
}

/** {@link send}, then the JSON body. */
export async function api<T>(server: ServerOptions, method: string, path: string, body?: unknown): Promise<T> {
  return (await send(server, method, path, body)).json() as Promise<T>;
}
