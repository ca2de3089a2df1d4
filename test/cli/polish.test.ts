/**
 * The CLI polish of issue 12, on the real `verdict` command: `--version`; help texts that read
 * as sentences; one variable for the key (`VERDICT_API_KEY`, `VERDICT_KEY` accepted with a
 * notice) named in the 401 message; `decisions export` reporting progress and the row count;
 * `keys list` with a header row.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Command } from "commander";
import { createProgram } from "../../src/cli/program.js";
import { loadConfig, VERDICT_KEY_NOTICE } from "../../src/config.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, ROOT } from "../helpers/app.js";
import { ADMIN_KEY, runCli } from "../helpers/cli.js";
import { createPostgresDatabase, usingPostgres } from "../helpers/db.js";
import { insertSyntheticDecisions } from "../helpers/synthetic-decisions.js";

/** No key from the test's own environment: each test says which variables the CLI sees. */
const NO_KEYS = { VERDICT_API_KEY: "", VERDICT_KEY: "", VERDICT_ADMIN_KEY: "", VERDICT_URL: "" };

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "verdict-polish-"));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("verdict --version", () => {
  it("prints the version of package.json", async () => {
    const r = await runCli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version);
  });
});

/**
 * The descriptions of one `--help` page: the command's own, then each option's and
 * subcommand's (wrapped lines joined), less what commander appends (`(default: ...)`,
 * `(choices: ...)`).
 */
function helpDescriptions(help: string): { descriptions: string[]; subcommands: string[] } {
  const lines = help.split("\n");
  const own = lines.slice(1, lines.findIndex((l) => /^(Options|Commands|Arguments):$/.test(l))).join(" ").trim();
  const entries: Array<{ term: string; text: string }> = [];
  let section = "";
  for (const l of lines) {
    if (/^\S.*:$/.test(l)) section = l;
    else if (section && /^ {2}\S/.test(l)) {
      const m = /^ {2}(\S.*?)\s{2,}(\S.*)$/.exec(l);
      if (m) entries.push({ term: `${section} ${m[1]}`, text: m[2]! });
    } else if (section && /^ {3,}\S/.test(l) && entries.length) entries.at(-1)!.text += ` ${l.trim()}`;
  }
  const strip = (t: string) => t.replace(/\s*\((?:choices|default|env|preset): .*\)$/, "");
  return {
    descriptions: [own, ...entries.map((e) => strip(e.text))].filter(Boolean),
    subcommands: entries
      .filter((e) => e.term.startsWith("Commands: ") && !e.term.startsWith("Commands: help "))
      .map((e) => e.term.slice("Commands: ".length).split(" ")[0]!),
  };
}

describe("help texts", () => {
  it("verdict --help is the help text of the program tree", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(createProgram().helpInformation());
  });

  it("read as sentences: capitalised, ending with a period, on every command", () => {
    // In-process, from the program tree the command runs (the test above ties the two): one
    // process per help page made this test start 17 CLI processes.
    const pages = new Map<string, string>();
    const visit = (path: string[]): void => {
      let cmd: Command = createProgram();
      for (const name of path) cmd = cmd.commands.find((c) => c.name() === name)!;
      expect(cmd, path.join(" ")).toBeDefined();
      const help = cmd.helpInformation();
      pages.set(path.join(" ") || "verdict", help);
      for (const c of helpDescriptions(help).subcommands) visit([...path, c]);
    };
    visit([]);
    // Every command of the CLI, its subcommands included, was read.
    expect([...pages.keys()]).toEqual(expect.arrayContaining(["verdict", "serve", "replay", "keys", "keys create", "keys list", "decisions export", "audit verify"]));
    for (const [page, help] of pages) {
      const { descriptions } = helpDescriptions(help);
      expect(descriptions.length, page).toBeGreaterThan(1);
      for (const d of descriptions) {
        expect(d, `${page}: ${d}`).toMatch(/^[A-Z]/);
        expect(d, `${page}: ${d}`).toMatch(/\.$/);
      }
    }
  });
});

describe("verdict keys list", () => {
  it("prints a header row above the keys", async () => {
    // Straight in an embedded database of its own (no VERDICT_URL: no server is asked).
    const env = { VERDICT_URL: "", DATABASE_URL: "", VERDICT_DATA_DIR: join(work, "keys-data") };
    const created = await runCli(["keys", "create", "--role", "auditor", "--name", "polish-auditor"], { env });
    expect(created.code, created.stderr).toBe(0);
    const r = await runCli(["keys", "list"], { env });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+ROLE\s+PREFIX\s+CREATED\s+STATUS\s+NAME$/);
    expect(lines.slice(1)).toEqual([expect.stringMatching(/^key_[0-9a-f]{16}\s+auditor\s+vk_\S+\s+\S+\s+active\s+polish-auditor$/)]);
  }, 120_000);
});

describe("against a running Verdict", () => {
  let server: RunningServer;
  let dropDb: (() => Promise<void>) | undefined;
  /** Decisions in the record: synthetic ones, and one made through the API. */
  const SYNTHETIC = 25_000;

  beforeAll(async () => {
    let dbEnv: Record<string, string>;
    if (usingPostgres) {
      const pg = await createPostgresDatabase();
      dropDb = pg.drop;
      dbEnv = { DATABASE_URL: pg.url };
    } else {
      dbEnv = { VERDICT_DATA_DIR: join(work, "server-data") };
    }
    server = await startServer(
      loadConfig({ PORT: "0", ...dbEnv, VERDICT_POLICY_DIR: EXAMPLE_POLICY_DIR, VERDICT_SCHEMA_DIR: EXAMPLE_SCHEMA_DIR, VERDICT_ADMIN_KEY: ADMIN_KEY, VERDICT_LOG_LEVEL: "silent" }),
    );
    await insertSyntheticDecisions(server.database.db, { count: SYNTHETIC, start: new Date(Date.now() - (SYNTHETIC + 3_600) * 1000), version: "sha256:synthetic" });
    const res = await fetch(`${server.url}/v1/mcp/tools/call`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/a.md" } }),
    });
    expect(res.status).toBe(200);
    const { decisionId } = (await res.json()) as { decisionId: string };
    await server.log.drain();
    // A newline (and quotes) inside a text column: in CSV a quoted field spanning two lines, still one row.
    await server.database.db.execute(sql`UPDATE decisions SET message = ${'two\nlines, "quoted"'} WHERE id = ${decisionId}`);
  }, 240_000);
  afterAll(async () => {
    await server?.stop();
    await dropDb?.();
  });

  it("reads the key from VERDICT_API_KEY", async () => {
    const r = await runCli(["versions", "--url", server.url], { env: { ...NO_KEYS, VERDICT_API_KEY: ADMIN_KEY } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("VERDICT_KEY");
  });

  it("accepts VERDICT_KEY, with a notice on stderr", async () => {
    const r = await runCli(["versions", "--url", server.url], { env: { ...NO_KEYS, VERDICT_KEY: ADMIN_KEY } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("no versions published yet");
    expect(r.stderr).toContain(VERDICT_KEY_NOTICE);
    expect(VERDICT_KEY_NOTICE).toBe("VERDICT_KEY is read as VERDICT_API_KEY; set VERDICT_API_KEY instead");
    // --key wins, and then VERDICT_KEY is not read: no notice.
    const flag = await runCli(["versions", "--url", server.url, "--key", ADMIN_KEY], { env: { ...NO_KEYS, VERDICT_KEY: "vk_stale" } });
    expect(flag.code, flag.stderr).toBe(0);
    expect(flag.stderr).not.toContain("VERDICT_KEY");
  });

  it("names the variable in the 401 message, for a missing and for a wrong key", async () => {
    const missing = await runCli(["versions", "--url", server.url], { env: NO_KEYS });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("401: missing API key");
    expect(missing.stderr).toContain("set VERDICT_API_KEY or pass --key");
    const wrong = await runCli(["decisions", "export", "--url", server.url, "--key", "vk_not-a-key"], { env: NO_KEYS });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("401: API key is unknown or revoked; set VERDICT_API_KEY or pass --key");
    // A known key that lacks the role is told so, not to set a variable.
    const pep = await server.apiKeys.create({ name: "polish-pep", role: "pep" });
    const forbidden = await runCli(["keys", "list", "--url", server.url, "--key", pep.key], { env: NO_KEYS });
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toContain("403: API key");
    expect(forbidden.stderr).not.toContain("VERDICT_API_KEY");
  });

  it("decisions export reports progress on stderr, then the number of decisions", async () => {
    const out = join(work, "all.jsonl");
    const r = await runCli(["decisions", "export", "--url", server.url, "-o", out], { env: { ...NO_KEYS, VERDICT_API_KEY: ADMIN_KEY } });
    expect(r.code, r.stderr).toBe(0);
    const total = SYNTHETIC + 1;
    expect(readFileSync(out, "utf8").trimEnd().split("\n")).toHaveLength(total);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toContain("exported 10000 decisions so far");
    expect(lines).toContain("exported 20000 decisions so far");
    expect(lines.at(-1)).toBe(`exported ${total} decisions to ${out}`);
    // Counts only grow.
    const counts = lines.map((l) => Number(/^exported (\d+) /.exec(l)?.[1]));
    expect(counts.every((c, i) => Number.isInteger(c) && (i === 0 || c >= counts[i - 1]!))).toBe(true);
  }, 120_000);

  it("counts CSV rows, not lines: the header is not a decision, and a quoted newline does not end a row", async () => {
    const r = await runCli(["decisions", "export", "--url", server.url, "--format", "csv", "--agent", "incident-bot", "--tool", "read_file"], {
      env: { ...NO_KEYS, VERDICT_API_KEY: ADMIN_KEY },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"two\nlines, ""quoted"""');
    expect(r.stdout.trimEnd().split("\n")).toHaveLength(3);
    expect(r.stderr.trimEnd()).toBe("exported 1 decision");
  });
});
