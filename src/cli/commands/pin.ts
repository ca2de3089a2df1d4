import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { Command } from "commander";
import { captureHttpCatalog, captureStdioCatalog, type ToolCatalog } from "../../catalog/capture.js";
import { toolDefinitionHash } from "../../catalog/tool-schema.js";
import { unifiedDiff } from "../../policy-versions/diff.js";
import { DEFAULT_SCHEMA_DIR } from "../../config.js";
import { CliError, projectDirs } from "../output.js";

const SERVER_ID = /^[A-Za-z0-9_-]+$/;

/** Tools added, removed and changed (by definition hash) between two catalogs. */
function toolChanges(before: ToolCatalog, after: ToolCatalog): { added: string[]; removed: string[]; changed: string[] } {
  const hashes = (c: ToolCatalog) => new Map(c.tools.map((t) => [t.name, toolDefinitionHash(t)]));
  const a = hashes(before);
  const b = hashes(after);
  return {
    added: [...b.keys()].filter((n) => !a.has(n)),
    removed: [...a.keys()].filter((n) => !b.has(n)),
    changed: [...a.keys()].filter((n) => b.has(n) && a.get(n) !== b.get(n)),
  };
}

/**
 * `verdict pin <server> -- <command...>` or `verdict pin <server> --url <url>`: asks a live MCP
 * server for `tools/list` (stdio or Streamable HTTP, through the MCP SDK client) and writes it
 * to `schema/servers/<server>.json`. Re-pinning shows what changed, tool by tool and as a diff.
 */
export function registerPin(program: Command): void {
  program
    .command("pin <server> [command...]")
    .description("Pin a live MCP server's tools/list into schema/servers/<server>.json (stdio: -- <command...>, or --url).")
    .option("--url <url>", "The server's Streamable HTTP endpoint, instead of a command.")
    .option("--header <header...>", "Extra HTTP headers for --url, as 'Name: value'.")
    .option("--schema-dir <dir>", "The schema directory.", DEFAULT_SCHEMA_DIR)
    .option("--dry-run", "Show what would change without writing.")
    .action(async (server: string, command: string[], opts: { url?: string; header?: string[]; schemaDir: string; dryRun?: boolean }) => {
      if (!SERVER_ID.test(server)) throw new CliError(`server id ${JSON.stringify(server)} must be letters, digits, _ and - only`, 2);
      if (Boolean(opts.url) === command.length > 0) throw new CliError("give either a command after -- or --url, not both and not neither", 2);
      let catalog: ToolCatalog;
      try {
        if (opts.url) {
          const headers = Object.fromEntries((opts.header ?? []).map((h) => [h.slice(0, h.indexOf(":")).trim(), h.slice(h.indexOf(":") + 1).trim()]));
          catalog = await captureHttpCatalog(opts.url, headers);
        } else {
          catalog = await captureStdioCatalog(command[0]!, command.slice(1));
        }
      } catch (e) {
        throw new CliError(`could not read tools/list from ${opts.url ?? command.join(" ")}: ${(e as Error).message}`);
      }
      const dir = join(projectDirs(undefined, opts.schemaDir).schemaDir, "servers");
      const file = join(dir, `${server}.json`);
      const shown = relative(process.cwd(), file);
      const text = JSON.stringify(catalog, null, 2) + "\n";
      if (existsSync(file)) {
        const before = readFileSync(file, "utf8");
        if (before === text) {
          console.log(`${shown}: unchanged (${catalog.tools.length} tools)`);
          return;
        }
        const changes = toolChanges(JSON.parse(before) as ToolCatalog, catalog);
        for (const n of changes.added) console.log(`+ ${server}/${n} (new tool)`);
        for (const n of changes.removed) console.log(`- ${server}/${n} (removed)`);
        for (const n of changes.changed) console.log(`~ ${server}/${n} (definition changed)`);
        process.stdout.write(unifiedDiff(shown, before, text));
      }
      if (opts.dryRun) {
        console.log(`${shown}: not written (--dry-run)`);
        return;
      }
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, text);
      console.log(`pinned ${catalog.tools.length} tools of ${server} in ${shown}; review the change, run verdict validate, then publish`);
    });
}
