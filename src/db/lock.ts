/**
 * One process at a time per embedded database directory (issue 11, defect 7).
 *
 * PGlite is Postgres compiled to WebAssembly, running inside the process that opens it: it has
 * no postmaster to arbitrate between processes. Two processes that open one data directory each
 * keep their own buffers and WAL position; what one writes the other never sees, and one
 * process's checkpoint can overwrite the other's writes (a key created by the CLI while the
 * server ran was answered 401, then lost at the server's next start). So whoever opens a PGlite
 * directory first takes `verdict.lock` inside it, holds it for the life of the process, and
 * removes it on close; a second opener is refused with {@link DatabaseLockedError}.
 *
 * The lock is a file naming its holder, published atomically: the holder's details are written
 * and fsynced to a temporary file, which is then hard-linked to `verdict.lock` (`link(2)` fails
 * when the name exists, so of two openers exactly one wins, and a reader never sees a partial
 * file). A lock whose holder is gone is stale and is taken over: its pid does not exist, or
 * (Linux) the machine rebooted since (`/proc/sys/kernel/random/boot_id` differs) or the pid now
 * names another process (its start time in `/proc/<pid>/stat` differs), or it names this
 * process's own pid while this process does not hold it (a container's pid 1 restarted).
 *
 * Not guaranteed: processes in different pid namespaces (two containers sharing one volume) or
 * on different hosts (a network file system) cannot see each other's pids, and each would judge
 * the other's lock stale. Share a database between processes with Postgres (`DATABASE_URL`).
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { basename, resolve } from "node:path";
import { hostname } from "node:os";

/** The lock's file name inside the data directory. */
export const LOCK_FILE = "verdict.lock";

/** What a lock file says about its holder (JSON, one object). */
export interface LockHolder {
  pid: number;
  /** Linux: the process's start time (clock ticks after boot, `/proc/<pid>/stat` field 22); null elsewhere. */
  startTime: string | null;
  /** Linux: the kernel's boot id; null elsewhere. */
  boot: string | null;
  host: string;
  /** ISO 8601: when the lock was taken. */
  startedAt: string;
  /** The command that took it, without its options (e.g. `verdict serve`, `verdict keys create`). */
  command: string;
}

/** The directory is held by another live process (or already by this one). */
export class DatabaseLockedError extends Error {
  constructor(
    /** The data directory as it was given (e.g. `./.verdict`). */
    readonly dataDir: string,
    readonly holder: LockHolder,
    /** The lock file's absolute path. */
    readonly lockFile: string,
  ) {
    super(
      `the embedded database in ${dataDir} is in use by process ${holder.pid}${holder.pid === process.pid ? " (this process)" : ""} ` +
        `(${holder.command}, since ${holder.startedAt}); two processes must never open one PGlite directory. ` +
        `Stop that process first, or use Postgres (DATABASE_URL) for a database several processes share`,
    );
    this.name = "DatabaseLockedError";
  }
}

/** The lock file exists but does not name a holder (edited by hand, or a file system without hard links). */
export class DatabaseLockFileError extends Error {
  constructor(readonly lockFile: string) {
    super(`${lockFile} exists but does not name the process holding the embedded database; if no Verdict process uses this directory, delete the file`);
    this.name = "DatabaseLockFileError";
  }
}

/** A held lock. */
export interface DataDirLock {
  /** The lock file's absolute path. */
  file: string;
  /** Removes the lock file if it is still this holder's. Idempotent. */
  release(): void;
}

/** Lock files this process holds, with the exact text it wrote (released on exit too). */
const held = new Map<string, string>();
let exitHook = false;

const readOr = (path: string): string | null => {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
};

/** Linux's start time of a process (field 22 of `/proc/<pid>/stat`), or null. */
function startTimeOf(pid: number): string | null {
  const stat = readOr(`/proc/${pid}/stat`);
  if (!stat) return null;
  // Field 2 (the command) is in parentheses and may contain spaces; count from the last ")".
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
}

function describeCommand(): string {
  const bin = basename(process.argv[1] ?? "node").replace(/\.[cm]?[jt]s$/, "");
  // Option values can be secrets (--key): only the leading words, the command itself, are kept.
  const words: string[] = [];
  for (const a of process.argv.slice(2)) {
    if (a.startsWith("-") || words.length === 2) break;
    words.push(a);
  }
  return [bin, ...words].join(" ").slice(0, 200);
}

function parseHolder(text: string): LockHolder | null {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (typeof h.pid !== "number" || !Number.isInteger(h.pid) || h.pid <= 0) return null;
    return {
      pid: h.pid,
      startTime: typeof h.startTime === "string" ? h.startTime : null,
      boot: typeof h.boot === "string" ? h.boot : null,
      host: typeof h.host === "string" ? h.host : "",
      startedAt: typeof h.startedAt === "string" ? h.startedAt : "an unknown time",
      command: typeof h.command === "string" ? h.command : "unknown command",
    };
  } catch {
    return null;
  }
}

/** Whether the process a lock names still runs (see the module comment for the tests made). */
function alive(h: LockHolder, file: string): boolean {
  if (h.pid === process.pid) return held.has(file);
  const boot = readOr("/proc/sys/kernel/random/boot_id");
  if (h.boot && boot && h.boot !== boot) return false;
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    // EPERM: the process exists but belongs to another user, so it is alive.
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  const now = startTimeOf(h.pid);
  return !(h.startTime && now && now !== h.startTime);
}

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** Writes `text` to a new file and flushes it to disk, so that a crash never leaves a partial lock. */
function writeDurable(path: string, text: string, flag: "wx"): void {
  const fd = openSync(path, flag, 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Takes the lock of an embedded database directory (which must exist), for the life of the
 * process or until `release()`.
 * @param dataDir the directory, as configured (messages name it so)
 * @throws DatabaseLockedError when a live process (this one included) holds it
 * @throws DatabaseLockFileError when the lock file does not name a holder
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = resolve(dataDir, LOCK_FILE);
  const me: LockHolder = {
    pid: process.pid,
    startTime: startTimeOf(process.pid),
    boot: readOr("/proc/sys/kernel/random/boot_id"),
    host: hostname(),
    startedAt: new Date().toISOString(),
    command: describeCommand(),
  };
  const text = JSON.stringify(me);
  const ours = held.get(file);
  if (ours !== undefined) throw new DatabaseLockedError(dataDir, parseHolder(ours)!, file);
  const tag = `${process.pid}.${randomBytes(6).toString("hex")}`;
  const tmp = `${file}.${tag}.tmp`;
  writeDurable(tmp, text, "wx");
  try {
    // Bounded: each round either takes the lock, refuses, or removes a stale lock someone else
    // could be taking at the same moment.
    for (let round = 0; round < 200; round++) {
      try {
        linkSync(tmp, file);
        return hold(file, text);
      } catch (e) {
        if (errno(e) !== "EEXIST") {
          // A file system without hard links: exclusive create instead (a reader may then see
          // the file before its content, and refuses with DatabaseLockFileError).
          if (errno(e) !== "EPERM" && errno(e) !== "ENOTSUP" && errno(e) !== "EOPNOTSUPP") throw e;
          try {
            writeDurable(file, text, "wx");
            return hold(file, text);
          } catch (e2) {
            if (errno(e2) !== "EEXIST") throw e2;
          }
        }
      }
      const seen = readOr(file);
      if (seen === null) continue; // released meanwhile
      const holder = parseHolder(seen);
      if (!holder) throw new DatabaseLockFileError(file);
      if (alive(holder, file)) throw new DatabaseLockedError(dataDir, holder, file);
      // Stale: remove it under the takeover mutex, so that of several openers that judged it
      // stale exactly one removes it, and only while it is still the lock judged stale. (Moving
      // it aside with rename could move a live lock another opener had just taken.)
      removeStale(file, tmp, seen);
    }
    throw new Error(`could not take ${file}: it kept changing hands`);
  } finally {
    unlinkSync(tmp);
  }
}

/** Blocks this thread for `ms` milliseconds (the lock is taken synchronously, before PGlite loads). */
const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Removes the stale lock `file` if it still reads `seen`, holding `<file>.takeover` (created by
 * `link(2)` from this opener's own `tmp`, so it names this process) while it checks and removes.
 * While the lock file exists nobody else can replace it (`link` fails on an existing name) and
 * only the mutex holder removes a stale one, so the check and the removal see the same file.
 * When another opener holds the mutex this waits a little and lets the caller's loop look again.
 * A mutex left by a process that died inside this function (microseconds) is stale like a lock.
 */
function removeStale(file: string, tmp: string, seen: string): void {
  const mutex = `${file}.takeover`;
  try {
    linkSync(tmp, mutex);
  } catch (e) {
    if (errno(e) !== "EEXIST") throw e;
    const holder = parseHolder(readOr(mutex) ?? "");
    if (holder && !alive(holder, mutex)) {
      try {
        unlinkSync(mutex);
      } catch {
        // removed meanwhile
      }
    }
    pause(5);
    return;
  }
  try {
    if (readOr(file) === seen) unlinkSync(file);
  } finally {
    unlinkSync(mutex);
  }
}

function hold(file: string, text: string): DataDirLock {
  held.set(file, text);
  if (!exitHook) {
    exitHook = true;
    // A process that exits without closing its database (process.exit on a fatal error) leaves
    // no lock behind; one that is killed does, and the next opener finds it stale.
    process.on("exit", () => {
      for (const f of [...held.keys()]) release(f);
    });
  }
  return { file, release: () => release(file) };
}

function release(file: string): void {
  const text = held.get(file);
  if (text === undefined) return;
  held.delete(file);
  // Only this holder's own file: never one another process wrote after taking over.
  if (readOr(file) === text) {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  }
}
