/**
 * The MCP conformance suite (server mode, every active scenario) through the gateway in front of
 * Verdict's own implementation of the suite's server scenarios
 * (test/fixtures/conformance/target-server.ts): `npm run conformance`, whose exit code is 0 only when the
 * scenarios that fail are exactly those listed in test/fixtures/conformance/expected-failures.yml
 * (denied on purpose by the fixture policy set). The suite is the devDependency `npm ci`
 * installed; nothing is installed at test time, and without it this test fails saying so.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/app.js";
import { createPostgresDatabase, usingPostgres } from "../helpers/db.js";

describe("MCP conformance through the gateway", () => {
  it("passes every scenario but the ones the policy denies on purpose", async () => {
    const installed = (() => {
      try {
        return createRequire(import.meta.url).resolve("@modelcontextprotocol/conformance/package.json");
      } catch {
        return null;
      }
    })();
    expect(installed, "@modelcontextprotocol/conformance is missing: run `npm ci` (the suite is never installed at test time)").not.toBeNull();
    const pgDb = usingPostgres ? await createPostgresDatabase() : undefined;
    try {
      // npm pointed at a registry that refuses every connection, offline: an install at test
      // time cannot succeed, so it would fail this test instead of quietly reaching the network.
      const env = { ...process.env, DATABASE_URL: pgDb?.url ?? "", npm_config_registry: "http://127.0.0.1:0/", npm_config_offline: "true" };
      const child = spawn(process.execPath, ["--conditions=@verdict/source", "--import", "tsx", join(ROOT, "tools", "scripts", "conformance.ts")], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
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
