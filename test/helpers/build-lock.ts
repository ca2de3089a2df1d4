/**
 * One build at a time in the checkout. `test/e2e/build.test.ts` (`npm run build`) and
 * `test/e2e/packages.test.ts` (`npm pack`, whose `prepack` rebuilds) both empty and rewrite
 * `packages/*\/dist`; run in parallel (vitest's two workers), one could pack the other's half-built
 * files. `withBuildLock` serialises them across processes: `mkdir` is atomic, so exactly one
 * caller creates the lock directory; the others poll until it is gone. A lock older than
 * 15 minutes (a killed run) is taken over.
 */
import { mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ROOT } from "./app.js";

const LOCK = join(ROOT, "node_modules", ".verdict-build-lock");
const STALE_MS = 15 * 60_000;

/** Runs `fn` while holding the checkout's build lock; throws after waiting `waitMs` (default 20 min). */
export async function withBuildLock<T>(fn: () => Promise<T>, waitMs = 20 * 60_000): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > STALE_MS) rmSync(LOCK, { recursive: true, force: true });
      } catch {
        // gone meanwhile: try again
      }
      if (Date.now() > deadline) throw new Error(`build lock ${LOCK} still held after ${waitMs} ms`);
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
