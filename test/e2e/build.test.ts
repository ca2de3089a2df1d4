/**
 * Compiled JavaScript in production (issue 12): `npm run build` gives a server that plain
 * `node dist/src/index.js` runs, with the explorer's static files, the migrations and its own
 * version found from the package root whatever the working directory; and the Dockerfile runs
 * node on those built files as a non-root user, on Node 22 (there is no Docker engine here: the
 * Dockerfile is read, not built).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_POLICY_DIR, EXAMPLE_SCHEMA_DIR, ROOT, TEST_ADMIN_KEY } from "../helpers/app.js";
import { withBuildLock } from "../helpers/build-lock.js";

const run = promisify(execFile);
/** The entry point the build produces, relative to the package root. */
const ENTRY = "dist/src/index.js";

let work: string;
let child: ChildProcess | undefined;
let url: string;
let output = "";

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "verdict-build-"));
  // The real build command, from a clean dist/: nothing left over from an earlier build counts.
  // Under the build lock: test/e2e/packages.test.ts rebuilds packages/*/dist when it packs.
  await withBuildLock(async () => {
    rmSync(join(ROOT, "dist"), { recursive: true, force: true });
    await run("npm", ["run", "build"], { cwd: ROOT, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
  });

  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PORT: "0",
    HOST: "127.0.0.1",
    VERDICT_DATA_DIR: join(work, "data"),
    VERDICT_POLICY_DIR: EXAMPLE_POLICY_DIR,
    VERDICT_SCHEMA_DIR: EXAMPLE_SCHEMA_DIR,
    VERDICT_ADMIN_KEY: TEST_ADMIN_KEY,
    VERDICT_LOG_LEVEL: "info",
  };
  delete env.DATABASE_URL;
  // Plain node, no loader, started from another directory: the build must not lean on tsx or on
  // the working directory to find its files.
  child = spawn(process.execPath, [join(ROOT, ENTRY)], { cwd: work, env, stdio: ["ignore", "pipe", "pipe"] });
  url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the built server did not listen within 120 s:\n${output}`)), 120_000);
    const onData = (d: Buffer) => {
      output += d;
      const m = /"url":"(http:\/\/[^"]+)"[^\n]*verdict listening/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child!.stdout!.on("data", onData);
    child!.stderr!.on("data", onData);
    child!.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the built server exited with ${code} before listening:\n${output}`));
    });
  });
}, 480_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  rmSync(work, { recursive: true, force: true });
});

describe("npm run build, then node dist/src/index.js", () => {
  it("is ready, at the version of package.json", async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const openapi = (await (await fetch(`${url}/openapi.json`)).json()) as { info: { version: string } };
    expect(openapi.info.version).toBe((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version);
  });

  it("serves the decision explorer and its static files", async () => {
    const page = await fetch(`${url}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toBe(readFileSync(join(ROOT, "src", "ui", "static", "index.html"), "utf8"));
    const script = await fetch(`${url}/ui/app.js`);
    expect(script.status).toBe(200);
    expect(await script.text()).toBe(readFileSync(join(ROOT, "src", "ui", "static", "app.js"), "utf8"));
    expect((await fetch(`${url}/ui/style.css`)).status).toBe(200);
  });

  it("decides a tool call and records it (the migrations ran)", async () => {
    const headers = { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_KEY}` };
    const call = { agent: "incident-bot", server: "filesystem", tool: "read_file", arguments: { path: "/srv/runbooks/a.md" } };
    const res = await fetch(`${url}/v1/mcp/tools/call`, { method: "POST", headers, body: JSON.stringify(call) });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { decision: string; decisionId: string };
    expect(["allow", "deny"]).toContain(answer.decision);
    // The record is written asynchronously: poll for it.
    let recorded = 0;
    for (let i = 0; i < 50 && recorded !== 200; i++) {
      recorded = (await fetch(`${url}/v1/decisions/${answer.decisionId}`, { headers })).status;
      if (recorded !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(recorded).toBe(200);
  });
});

/** The Dockerfile's instructions, continuation lines joined, comments dropped, by stage. */
function dockerStages(text: string): Array<{ from: string; name?: string; lines: Array<{ op: string; args: string }> }> {
  const logical = text
    .replace(/\\\r?\n/g, " ")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const stages: ReturnType<typeof dockerStages> = [];
  for (const l of logical) {
    const [, op, args] = /^(\S+)\s+(.*)$/.exec(l)!;
    if (op!.toUpperCase() === "FROM") {
      const [, image, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args!.trim())!;
      stages.push({ from: image!, name, lines: [] });
    } else {
      stages.at(-1)!.lines.push({ op: op!.toUpperCase(), args: args!.trim() });
    }
  }
  return stages;
}

describe("the Dockerfile", () => {
  const stages = dockerStages(readFileSync(join(ROOT, "Dockerfile"), "utf8"));
  const runtime = stages.at(-1)!;
  const index = (op: string, match: RegExp = /./) => runtime.lines.findIndex((l) => l.op === op && match.test(l.args));

  it("builds on Node 22 in one stage and runs on Node 22 in another", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.from).toMatch(/^node:22(-slim)?$/);
    const build = stages.find((s) => s.name === "build")!;
    expect(build.lines.some((l) => l.op === "RUN" && /\bnpm ci\b/.test(l.args) && !/--omit=dev/.test(l.args))).toBe(true);
    expect(build.lines.some((l) => l.op === "RUN" && /\bnpm run build\b/.test(l.args))).toBe(true);
    expect(index("COPY", /^--from=build\s+\/app\/dist\s/)).toBeGreaterThanOrEqual(0);
    expect(index("RUN", /\bnpm ci\b.*--omit=dev/)).toBeGreaterThanOrEqual(0);
  });

  it("copies every workspace's package.json before npm ci, in both stages", () => {
    const patterns = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { workspaces?: string[] }).workspaces ?? [];
    // `packages/*`: every folder there with a package.json.
    const workspaces = patterns.flatMap((p) =>
      p.endsWith("/*")
        ? readdirSync(join(ROOT, p.slice(0, -2)))
            .map((d) => `${p.slice(0, -2)}/${d}`)
            .filter((d) => existsSync(join(ROOT, d, "package.json")))
        : [p],
    );
    expect(workspaces.length).toBeGreaterThan(0);
    for (const s of stages) {
      const ci = s.lines.findIndex((l) => l.op === "RUN" && /\bnpm ci\b/.test(l.args));
      const copied = s.lines.slice(0, ci).filter((l) => l.op === "COPY").map((l) => l.args);
      for (const w of workspaces) expect(copied, `${w} in stage ${s.name ?? "runtime"}`).toContain(`${w}/package.json ${w}/`);
    }
  });

  it("copies only what exists in the repository", () => {
    for (const s of stages) {
      for (const l of s.lines.filter((l) => l.op === "COPY" && !l.args.startsWith("--from="))) {
        const sources = l.args.split(/\s+/).slice(0, -1);
        for (const src of sources) if (src !== ".") expect(existsSync(join(ROOT, src)), src).toBe(true);
      }
    }
  });

  it("runs node on the built entry point as a non-root user", () => {
    const cmd = index("CMD");
    const user = runtime.lines.map((l, i) => ({ ...l, i })).filter((l) => l.op === "USER" && l.i < cmd).at(-1);
    expect(user, "a USER before CMD").toBeDefined();
    expect(user!.args).not.toMatch(/^(root|0)(:|$)/);
    expect(runtime.lines.slice(user!.i + 1).some((l) => l.op === "USER")).toBe(false);
    const argv = JSON.parse(runtime.lines[cmd]!.args) as string[];
    expect(argv).toEqual(["node", ENTRY]);
    // The file the CMD runs is what `npm run build` produced (beforeAll built it).
    expect(existsSync(join(ROOT, argv[1]!))).toBe(true);
    // And what it reads at run time is in the image: the migrations beside dist/.
    expect(index("COPY", /^migrations\s/)).toBeGreaterThanOrEqual(0);
  });
});
