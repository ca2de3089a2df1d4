/**
 * The import rules of Verdict's tree (STYLE.md "Where Verdict goes next"), checked by
 * dependency-cruiser: `npm run deps:check`, and `test/architecture.test.ts` in the suite.
 * Paths are relative to the folder the cruiser runs in (the repository root). Type-only imports
 * count (`tsPreCompilationDeps`): the circle through `src/http/app.ts` was made of them.
 * @type {import("dependency-cruiser").IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "No import circle anywhere in the server or the packages: each module reads one way, down.",
      from: { path: "^(src|packages)/" },
      to: { circular: true },
    },
    {
      name: "routes-take-deps-not-the-app",
      severity: "error",
      comment:
        "Only the composition root (src/server.ts) imports src/http/app.ts; routes take AppDeps and AppEnv from src/http/deps.ts.",
      from: { path: "^src/", pathNot: "^src/(server|http/app)\\.ts$" },
      to: { path: "^src/http/app\\.ts$" },
    },
    {
      name: "decision-log-below-the-pdp",
      severity: "error",
      comment:
        "The decision log stores records: it knows nothing of the PDP that decides them or the HTTP layer that carries them (no src/pdp/, src/http/, hono).",
      from: { path: "^src/decision-log/" },
      to: { path: ["^src/pdp/", "^src/http/", "(^|/)node_modules/(hono|@hono/[^/]+)/", "^(hono|@hono/[^/]+)(/|$)"] },
    },
    {
      name: "packages-without-server-code",
      severity: "error",
      comment: "What gateway builders install (packages/*) imports nothing from the server (src/).",
      from: { path: "^packages/" },
      to: { path: "^src/" },
    },
    {
      name: "src-without-tools-or-tests",
      severity: "error",
      comment: "The runtime (src/) imports neither the tools (tools/) nor the tests (test/).",
      from: { path: "^src/" },
      to: { path: "^(tools|test)/" },
    },
    {
      name: "packages-only-through-contract",
      severity: "error",
      comment: "Only src/contract/ imports from packages/ (the SDK's wire schemas, defined once there).",
      from: { path: "^src/", pathNot: "^src/contract/" },
      to: { path: "^packages/" },
    },
    {
      name: "no-unresolvable",
      severity: "error",
      comment: "Every import resolves (an import that does not would slip past the rules above).",
      from: { path: "^(src|packages)/" },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // Built output is not source: packages/*/dist exists only after a build.
    exclude: { path: "^packages/[^/]+/dist/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      // "@verdict/source" first: in the checkout the workspace packages resolve to their sources,
      // built or not (the exports of packages/*/package.json list it before "default").
      conditionNames: ["@verdict/source", "import", "require", "node", "default", "types"],
    },
  },
};
