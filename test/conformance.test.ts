/**
 * The MCP conformance suite (server mode, every active scenario) through the gateway in front of
 * Verdict's own implementation of the suite's server scenarios
 * (test/fixtures/conformance/target-server.ts): `npm run conformance`, whose exit code is 0 only when the
 * scenarios that fail are exactly those listed in test/fixtures/conformance/expected-failures.yml
 * (denied on purpose by the fixture policy set). The first run installs the suite and a Node 22
 * binary from npm into a cache prefix outside the project.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers/app.js";
import { createPostgresDatabase, usingPostgres } from "./helpers/db.js";

describe("MCP conformance through the gateway", () => {
  it("passes every scenario but the ones the policy denies on purpose", async () => {
    const pgDb = usingPostgres ? await createPostgresDatabase() : undefined;
    try {
      const env = { ...process.env, DATABASE_URL: pgDb?.url ?? "" };
      const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "conformance.ts")], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString()));
      child.stderr.on("data", (c: Buffer) => (out += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      expect(out).toMatch(/✗ tools-call-audio: 0 passed, 1 failed/);
      expect(out).toMatch(/✓ tools-call-sampling: 1 passed/);
      expect(out).toMatch(/✓ dns-rebinding-protection: 2 passed/);
      expect(out).toMatch(/✓ elicitation-sep1330-enums: 5 passed, 0 failed/);
      expect(out).toContain("Total: 39 passed, 1 failed");
      expect(out).toContain("Baseline check passed: all failures are expected.");
      expect(code, out.slice(-3000)).toBe(0);
    } finally {
      await pgDb?.drop();
    }
  }, 600_000);
});
