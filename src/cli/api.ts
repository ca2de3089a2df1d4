/**
 * What CLI commands that talk to a running Verdict share: the `--url` and `--key` options
 * (defaulting to `VERDICT_URL` and `VERDICT_API_KEY`) and a request that turns an error answer
 * into a readable message and exit code 1.
 */
import { Option, type Command } from "commander";

/** Adds `--url` and `--key` to a command. */
export function apiOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--url <url>", "base URL of the Verdict server").env("VERDICT_URL").default("http://127.0.0.1:8700"))
    .addOption(new Option("--key <key>", "API key, sent as Authorization: Bearer").env("VERDICT_API_KEY"));
}

/**
 * GETs a path of the server; exits with the server's error message when the answer is not 2xx.
 * @returns the response, body unread
 */
export async function apiRequest(program: Command, opts: { url?: unknown; key?: unknown }, path: string): Promise<Response> {
  const headers: Record<string, string> = {};
  if (typeof opts.key === "string" && opts.key) headers.authorization = `Bearer ${opts.key}`;
  let res: Response;
  try {
    res = await fetch(new URL(path, String(opts.url)), { headers });
  } catch (e) {
    return program.error(`cannot reach ${String(opts.url)}: ${(e as Error).cause ?? (e as Error).message}`);
  }
  if (!res.ok) {
    const body = await res.text();
    let message = body;
    try {
      message = (JSON.parse(body) as { error: { message: string } }).error.message;
    } catch {
      // not Verdict's error shape: show the body as it came
    }
    return program.error(`${res.status}: ${message}`);
  }
  return res;
}
