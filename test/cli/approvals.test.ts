/**
 * `verdict approvals list|show|approve|deny` and `verdict keys create --role approver --user`,
 * against the in-process app served on a free port (the CLI talks HTTP to it). The commands run
 * in-process, from the program tree `verdict` parses (`createProgram`), as `index.ts` runs them;
 * one spawned `verdict` ties the two (exit code and message of a refused approval).
 */
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { CommanderError, type Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CliError } from "../../src/cli/output.js";
import { createProgram } from "../../src/cli/program.js";
import { loadPolicySet } from "../../src/policy/build.js";
import { createTestApp, type TestApp } from "../helpers/app.js";
import { BIG_REFUND, writeApprovalSet } from "../helpers/approval-set.js";
import { runCli } from "../helpers/cli.js";

const set = writeApprovalSet();
let t: TestApp;
let server: ServerType;
let url: string;

/** What a command left: its exit code (as `index.ts` would set it), stdout and stderr. */
interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `verdict <args>` in-process: console output and commander's own (usage errors) captured,
 * a CliError reported as `index.ts` reports it, commander's exits turned into the exit code.
 */
async function verdict(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const program = createProgram();
  const run: Run = { code: 0, stdout: "", stderr: "" };
  const capture = (c: Command): void => {
    c.exitOverride().configureOutput({ writeOut: (s) => void (run.stdout += s), writeErr: (s) => void (run.stderr += s) });
    c.commands.forEach(capture);
  };
  capture(program);
  const log = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void (run.stdout += `${a.join(" ")}\n`));
  const error = vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void (run.stderr += `${a.join(" ")}\n`));
  for (const [k, v] of Object.entries({ VERDICT_URL: "", VERDICT_API_KEY: "", VERDICT_KEY: "", VERDICT_ADMIN_KEY: "", ...env })) vi.stubEnv(k, v);
  process.exitCode = undefined;
  try {
    await program.parseAsync(args, { from: "user" });
    run.code = Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CliError) {
      run.stderr += `verdict: ${e.message}\n`;
      run.code = e.exitCode;
    } else if (e instanceof CommanderError) run.code = e.exitCode;
    else throw e;
  } finally {
    log.mockRestore();
    error.mockRestore();
    vi.unstubAllEnvs();
    process.exitCode = undefined;
  }
  return run;
}

/** `--url` of the served app and `--key`. */
const at = (key: string) => ["--url", url, "--key", key];

async function call(body: Record<string, unknown>): Promise<{ decision: string; obligations: Array<{ type: string; id: string }> }> {
  const res = await t.request("/v1/mcp/tools/call", { body, key: t.keys.pep });
  expect(res.status).toBe(200);
  return (await res.json()) as { decision: string; obligations: Array<{ type: string; id: string }> };
}

/** Makes the request of a refund on `task`; its approval id. */
async function ask(task: string, user = "alice"): Promise<string> {
  const answer = await call({ ...BIG_REFUND, user, task: { id: task } });
  expect(answer.decision).toBe("deny");
  return answer.obligations.find((o) => o.type === "approval")!.id;
}

const approver: Record<string, string> = {};
beforeAll(async () => {
  t = await createTestApp({ policySet: loadPolicySet(set.policyDir, set.schemaDir) });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const user of ["frank", "alice"]) approver[user] = (await t.apiKeys.create({ name: `approver-${user}`, role: "approver", user })).key;
}, 120_000);
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await t?.close();
});

describe("verdict keys create --role approver --user", () => {
  it("creates a key for one person, through the API; the key decides approvals as that person", async () => {
    const r = await verdict(["keys", "create", "--role", "approver", "--user", "erin", "--name", "erin-laptop", ...at(t.keys.admin)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^created approver key key_[0-9a-f]{16} \(erin-laptop, for erin\); it is not shown again:$/m);
    approver.erin = r.stdout.trim();
    expect(approver.erin).toMatch(/^vk_/);
    const listed = await verdict(["keys", "list", ...at(t.keys.admin)]);
    expect(listed.stdout).toMatch(/^key_[0-9a-f]{16}\s+approver\s+vk_\S+\s+\S+\s+active\s+erin-laptop \(for erin\)$/m);
    const id = await ask("KEYS-1");
    const approved = await verdict(["approvals", "approve", id, ...at(approver.erin)]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain("as erin");
  });

  it("refuses an approver without --user, and --user on another role, with exit 2 and nothing created", async () => {
    const before = (await t.apiKeys.list()).length;
    const missing = await verdict(["keys", "create", "--role", "approver", "--name", "nobody", ...at(t.keys.admin)]);
    expect(missing).toMatchObject({ code: 2, stdout: "" });
    expect(missing.stderr).toContain("an approver key is created for one person: add --user <id>");
    const extra = await verdict(["keys", "create", "--role", "pep", "--user", "erin", "--name", "gw", ...at(t.keys.admin)]);
    expect(extra).toMatchObject({ code: 2, stdout: "" });
    expect(extra.stderr).toContain("a pep key names no user");
    expect((await t.apiKeys.list()).length).toBe(before);
  });

  it("help names the approver role and --user", () => {
    const keys = createProgram().commands.find((c) => c.name() === "keys")!;
    expect(keys.description()).toContain("approver");
    // wrapped lines joined
    const help = keys.commands.find((c) => c.name() === "create")!.helpInformation().replace(/\s+/g, " ");
    expect(help).toContain("--role <role> Its role: one of pep, auditor, policy-admin, metrics, admin, approver.");
    expect(help).toContain("--user <id>");
  });
});

describe("verdict approvals", () => {
  let first: string;
  let second: string;
  beforeAll(async () => {
    first = await ask("LIST-1");
    second = await ask("LIST-2", "bob");
  });

  it("list prints a table of the requests, newest first, filtered as asked", async () => {
    const r = await verdict(["approvals", "list", "--status", "pending", ...at(approver.frank!)]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+TOOL\s+AGENT\s+USER\s+TASK\s+GROUPS\s+EXPIRES$/);
    const row = (id: string, user: string, task: string) => new RegExp(`^${id}\\s+pending\\s+payments/refund\\s+incident-bot\\s+${user}\\s+${task}\\s+release-managers\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z$`);
    expect(lines.indexOf(lines.find((l) => row(second, "bob", "LIST-2").test(l))!)).toBe(1);
    expect(lines.some((l) => row(first, "alice", "LIST-1").test(l))).toBe(true);

    const one = await verdict(["approvals", "list", "--task", "LIST-1", "--agent", "incident-bot", "--group", "release-managers", "--user", "alice", ...at(approver.frank!)]);
    expect(one.stdout.trimEnd().split("\n")).toEqual([expect.stringMatching(/^ID\s/), expect.stringMatching(row(first, "alice", "LIST-1"))]);
    const none = await verdict(["approvals", "list", "--task", "NO-SUCH-TASK", ...at(approver.frank!)]);
    expect(none.stdout.trim()).toBe("no approval requests match");
  });

  it("list pages with --limit and --cursor, and prints JSON with --json", async () => {
    const page1 = await verdict(["approvals", "list", "--status", "pending", "--limit", "1", ...at(approver.frank!)]);
    const cursor = /^more: add --cursor (\S+)$/m.exec(page1.stdout)?.[1];
    expect(cursor, page1.stdout).toBeDefined();
    expect(page1.stdout).toContain(second);
    const page2 = await verdict(["approvals", "list", "--status", "pending", "--limit", "1", "--cursor", cursor!, "--json", ...at(approver.frank!)]);
    const json = JSON.parse(page2.stdout) as { approvals: Array<{ id: string }>; nextCursor: string | null };
    expect(json.approvals.map((a) => a.id)).toEqual([first]);
  });

  it("show prints the exact call, its arguments included", async () => {
    const r = await verdict(["approvals", "show", first, ...at(approver.frank!)]);
    expect(r.code, r.stderr).toBe(0);
    const shown = (await (await t.request(`/v1/approvals/${first}`)).json()) as { call: { definitionSha256: string; argumentsSha256: string } };
    expect(r.stdout).toContain(`approval ${first}\n`);
    for (const line of [
      /^ {2}status\s+pending$/m,
      /^ {2}groups\s+release-managers$/m,
      /^ {2}policies\s+refunds-over-100-need-approval$/m,
      /^ {2}agent\s+incident-bot$/m,
      /^ {2}user\s+alice$/m,
      /^ {2}tool\s+payments\/refund$/m,
      /^ {2}task\s+LIST-1$/m,
      new RegExp(`^ {2}definition\\s+${shown.call.definitionSha256}$`, "m"),
      new RegExp(`^ {2}arguments\\s+${shown.call.argumentsSha256}$`, "m"),
    ])
      expect(r.stdout).toMatch(line);
    expect(r.stdout).toContain('  {\n    "order": "o-1",\n    "amount": 250\n  }\n');
    const json = await verdict(["approvals", "show", first, "--json", ...at(approver.frank!)]);
    expect(JSON.parse(json.stdout)).toEqual(shown);
  });

  it("approve (key from VERDICT_API_KEY) lets the identical call through once; a second decision is refused with the server's message", async () => {
    const r = await verdict(["approvals", "approve", first, "--url", url, "--comment", "customer called"], { VERDICT_API_KEY: approver.frank! });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(new RegExp(`^approved ${first} \\(payments/refund for incident-bot acting for alice\\) as frank: the identical call is allowed once until \\S+Z$`));
    expect((await call({ ...BIG_REFUND, task: { id: "LIST-1" } })).decision).toBe("allow");
    const shown = await verdict(["approvals", "show", first, ...at(approver.frank!)]);
    expect(shown.stdout).toMatch(/^ {2}approved\s+\S+ by frank: customer called$/m);
    expect(shown.stdout).toMatch(/^ {2}used\s+\S+ by decision [0-9a-f-]{36}$/m);
    const again = await verdict(["approvals", "deny", first, ...at(approver.frank!)]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`verdict: POST /v1/approvals/${first}/deny: 409: approval request ${first} is used`);
  });

  it("deny denies a pending request", async () => {
    const r = await verdict(["approvals", "deny", second, "--comment", "no", ...at(approver.frank!)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`denied ${second} (payments/refund for incident-bot acting for bob) as frank`);
    const list = await verdict(["approvals", "list", "--status", "denied", "--json", ...at(approver.frank!)]);
    expect((JSON.parse(list.stdout) as { approvals: Array<{ id: string; comment: string }> }).approvals).toEqual([expect.objectContaining({ id: second, comment: "no" })]);
  });

  it("errors print the server's message and exit 1: unknown id, not a UUID, own call, outside the group, a bad filter", async () => {
    const id = await ask("ERR-1");
    const cases: Array<[string[], string]> = [
      [["approvals", "show", "0190a000-0000-7000-8000-000000000000", ...at(approver.frank!)], "404: no approval request 0190a000-0000-7000-8000-000000000000"],
      [["approvals", "show", "nope", ...at(approver.frank!)], '400: approval id "nope" is not a UUID'],
      [["approvals", "approve", id, ...at(approver.alice!)], "403: alice is the user the agent acts for on this call, and may not decide its own approval"],
      [["approvals", "list", "--limit", "0", ...at(approver.frank!)], "400: "],
    ];
    for (const [args, message] of cases) {
      const r = await verdict(args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toContain(message);
      expect(r.stdout).toBe("");
    }
    const outsider = (await t.apiKeys.create({ name: "approver-carol", role: "approver", user: "carol" })).key;
    const r = await verdict(["approvals", "deny", id, ...at(outsider)]);
    expect(r.stderr).toContain('403: carol is not in Mcp::Group::"release-managers", which this approval needs');
    // a status the server does not know is refused before asking it
    const bad = await verdict(["approvals", "list", "--status", "maybe", ...at(approver.frank!)]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("Allowed choices are pending, approved, denied, used, expired");
  });

  it("as a process: an admin key names no person, so approve exits 1 with the server's message", async () => {
    const id = await ask("PROC-1");
    const r = await runCli(["approvals", "approve", id, ...at(t.keys.admin)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`verdict: POST /v1/approvals/${id}/approve: 401: approvals are decided by people`);
  }, 60_000);
});
