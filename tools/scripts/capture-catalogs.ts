/**
 * Pins the tool catalogs of Verdict's example MCP servers: spawns each installed server over
 * stdio, asks `tools/list` through the MCP SDK client and writes `schema/servers/<id>.json`.
 * Usage: `npm run catalogs` (then review the diff before committing: a pinned catalog is what
 * the security team approved).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { captureKnownServer } from "../../src/catalog/capture.js";
import { KNOWN_SERVERS } from "../../src/catalog/servers.js";

const outDir = join(import.meta.dirname, "..", "..", "schema", "servers");
for (const server of KNOWN_SERVERS) {
  process.stdout.write(`capturing ${server.id} (${server.packageName}) ... `);
  const catalog = await captureKnownServer(server);
  writeFileSync(join(outDir, `${server.id}.json`), JSON.stringify(catalog, null, 2) + "\n");
  process.stdout.write(`${catalog.tools.length} tools\n`);
}
