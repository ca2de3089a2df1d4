/**
 * Where the shared conformance suites live: `../shared/conformance` beside the repository
 * (CI checks the repository and `shared` out side by side).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

/** The repository root (this file is `tools/conformance/suites.ts`). */
export const REPO_ROOT = join(import.meta.dirname, "..", "..");

/**
 * The shared conformance suites directory.
 * @throws Error naming the path when it is missing: a missing suite is a failure, never a
 *   reason to skip
 */
export function conformanceDir(root = REPO_ROOT): string {
  const dir = join(root, "..", "shared", "conformance");
  if (!existsSync(dir)) {
    throw new Error(`conformance suites not found at ${dir}: check out the shared suites beside the repository (../shared/conformance)`);
  }
  return dir;
}
