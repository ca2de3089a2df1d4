import { defineConfig } from "vitest/config";

export default defineConfig({
  // `@verdict/sdk` and `@verdict/mcp` resolve to their TypeScript sources in the checkout (the
  // `@verdict/source` condition of their `exports`, as in tsconfig.json): tests need no package
  // build. The rest are Vitest's default server conditions (Vite's, without "module").
  ssr: { resolve: { conditions: ["@verdict/source", "node", "development|production"] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Test files run in parallel; each gets its own database (test/helpers/db.ts).
    pool: "forks",
    maxWorkers: 2,
  },
});
