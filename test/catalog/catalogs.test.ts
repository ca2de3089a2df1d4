import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { captureKnownServer } from "../../src/catalog/capture.js";
import { KNOWN_SERVERS } from "../../src/catalog/servers.js";
import { toolDefinitionHash } from "../../src/catalog/tool-schema.js";
import { EXAMPLE_SCHEMA_DIR } from "../helpers/app.js";

describe("pinned catalogs match what the installed MCP servers report", () => {
  it("pins exactly the known servers", () => {
    expect(KNOWN_SERVERS.map((s) => s.id).sort()).toEqual(["everything", "filesystem", "memory"]);
  });

  it.each(KNOWN_SERVERS.map((s) => [s.id, s] as const))("%s", async (id, server) => {
    const pinned = JSON.parse(readFileSync(join(EXAMPLE_SCHEMA_DIR, "servers", `${id}.json`), "utf8"));
    const reported = await captureKnownServer(server);
    expect(reported.tools.length).toBeGreaterThan(0);
    expect(reported.tools.map((t) => t.name)).toEqual(pinned.tools.map((t: { name: string }) => t.name));
    // Per tool first, so a mismatch names the drifted tool, then the whole object.
    for (const [i, tool] of reported.tools.entries()) {
      expect({ name: tool.name, hash: toolDefinitionHash(tool) }).toEqual({ name: tool.name, hash: toolDefinitionHash(pinned.tools[i]) });
    }
    expect(reported).toEqual(pinned);
  });
});
