/**
 * Development mode: watches the policy and schema directories and reloads the policy set on
 * save. A set that does not validate never replaces the one in force; its errors are printed
 * with file, line and column, and the next save tries again.
 */
import { watch, type FSWatcher } from "node:fs";
import type { Logger } from "pino";
import type { ActivePolicySet } from "./active.js";
import { loadPolicySet } from "./build.js";
import { PolicySetError } from "./issues.js";

/** A running watcher. */
export interface PolicyWatcher {
  close(): void;
}

/**
 * Starts watching.
 * @param out where human-readable reload messages and errors go (default stderr)
 * @param debounceMs quiet time after the last change before reloading (editors write in bursts)
 */
export function watchPolicySet(
  dirs: { policyDir: string; schemaDir: string },
  policies: ActivePolicySet,
  logger: Logger,
  opts: { out?: (line: string) => void; debounceMs?: number } = {},
): PolicyWatcher {
  const out = opts.out ?? ((line: string) => process.stderr.write(line + "\n"));
  let timer: NodeJS.Timeout | null = null;
  const reload = () => {
    timer = null;
    try {
      const next = loadPolicySet(dirs.policyDir, dirs.schemaDir);
      if (next.version === policies.peek()?.version) return;
      policies.activate(next);
      logger.info({ version: next.version }, "policy set reloaded");
      out(`verdict: reloaded policy set ${next.version} (${next.policies.size} policies, ${next.tools.size} tools)`);
    } catch (e) {
      if (!(e instanceof PolicySetError)) throw e;
      logger.warn({ issues: e.issues.length }, "policy set not reloaded: invalid");
      out(`verdict: ${e.message}\nverdict: keeping policy set ${policies.peek()?.version ?? "(none)"}`);
    }
  };
  const changed = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(reload, opts.debounceMs ?? 150);
  };
  const watchers: FSWatcher[] = [dirs.policyDir, dirs.schemaDir].map((d) => watch(d, { recursive: true }, changed));
  return {
    close: () => {
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
