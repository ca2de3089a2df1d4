/**
 * The real MCP servers whose tool catalogs Verdict ships pinned in `schema/servers/`.
 * Each entry says how to spawn the server over stdio; `tools/scripts/capture-catalogs.ts` and the
 * catalog test both use this table, so what is pinned is what the installed server reports.
 */
export interface KnownServer {
  /** The server id: the catalog file name and the `<server>` part of action ids. */
  id: string;
  /** npm package that provides the server. */
  packageName: string;
  /** The package's bin script, relative to the package root. */
  bin: string;
  /** Arguments; `{scratch}` is replaced by a scratch directory. */
  args: string[];
}

/** The servers pinned in `schema/servers/`, each spawnable from its installed npm package. */
export const KNOWN_SERVERS: readonly KnownServer[] = [
  { id: "filesystem", packageName: "@modelcontextprotocol/server-filesystem", bin: "dist/index.js", args: ["{scratch}"] },
  { id: "memory", packageName: "@modelcontextprotocol/server-memory", bin: "dist/index.js", args: [] },
  { id: "everything", packageName: "@modelcontextprotocol/server-everything", bin: "dist/index.js", args: ["stdio"] },
];
