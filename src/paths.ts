/**
 * Where Verdict's own files are, the same whether it runs from its sources (`src/`, through tsx)
 * or compiled (`dist/src/`, plain node): the package root is the nearest folder above this
 * module whose `package.json` is Verdict's (`"name": "verdict"`). It holds `migrations/` and
 * `package.json`; the explorer's static files are copied beside the compiled `ui/routes.js`.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** What Verdict reads of its own `package.json`. */
interface PackageJson {
  name?: string;
  version: string;
}

function findPackageRoot(from: string): { root: string; pkg: PackageJson } {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as PackageJson;
      if (pkg.name === "verdict") return { root: dir, pkg };
    }
    if (dirname(dir) === dir) throw new Error(`no package.json of verdict above ${from}`);
  }
}

const found = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** Absolute path of Verdict's package root (the checkout, or `/app` in the container image). */
export const PACKAGE_ROOT = found.root;

/** Verdict's version, from its `package.json` (e.g. `0.1.0`). */
export const VERSION = found.pkg.version;

/** Absolute path of the SQL migrations drizzle runs on open (`<root>/migrations`). */
export const MIGRATIONS_DIR = join(PACKAGE_ROOT, "migrations");
