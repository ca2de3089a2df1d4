/**
 * Cerbos 0.55, the peer Verdict is measured against. The binary comes from npm
 * (`@cerbos/cerbos-linux-x64`), installed on demand into a directory under the system's temp
 * directory with `npm install --prefix`: it is not a dependency of Verdict.
 */
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The Cerbos version the benchmark compares with. */
export const CERBOS_VERSION = "0.55.0";

/**
 * The path of the Cerbos binary, installing it first when needed.
 * @throws when npm cannot install it (the benchmark then reports Cerbos as not measured)
 */
export function cerbosBinary(): string {
  if (process.platform !== "linux" || process.arch !== "x64") throw new Error(`no Cerbos npm binary wired for ${process.platform}-${process.arch}`);
  const prefix = join(tmpdir(), `verdict-bench-cerbos-${CERBOS_VERSION}`);
  const bin = join(prefix, "node_modules", "@cerbos", "cerbos-linux-x64", "cerbos-linux-x64");
  if (!existsSync(bin)) {
    execFileSync("npm", ["install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund", `@cerbos/cerbos-linux-x64@${CERBOS_VERSION}`], { stdio: "inherit" });
  }
  return bin;
}

/**
 * Writes a Cerbos configuration: disk storage over `policyDir`, HTTP and gRPC on the given
 * ports, and the audit log on (access and decision logs, file backend), as a fair peer of a PDP
 * that records every decision.
 * @returns the configuration file's path
 */
export function writeCerbosConfig(dir: string, policyDir: string, httpPort: number, grpcPort: number): string {
  const file = join(dir, "cerbos.yaml");
  writeFileSync(
    file,
    `server:
  httpListenAddr: "127.0.0.1:${httpPort}"
  grpcListenAddr: "127.0.0.1:${grpcPort}"
storage:
  driver: disk
  disk:
    directory: ${JSON.stringify(policyDir)}
    watchForChanges: false
audit:
  enabled: true
  accessLogsEnabled: true
  decisionLogsEnabled: true
  backend: file
  file:
    path: ${JSON.stringify(join(dir, "cerbos-audit.log"))}
telemetry:
  disabled: true
`,
  );
  return file;
}
