import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Test files run in parallel; each gets its own database (test/helpers/db.ts).
    pool: "forks",
    maxWorkers: 2,
  },
});
