import type { Command } from "commander";
import { ApiKeyStore } from "../../auth/api-keys.js";
import { loadConfig } from "../../config.js";
import { ApiKeyRole } from "../../contract/wire.js";
import { openDatabase } from "../../db/client.js";
import { SigningKeys } from "../../keys/signing-keys.js";

/**
 * Runs `fn` with the database the server uses (same environment: `DATABASE_URL` or
 * `VERDICT_DATA_DIR`). The embedded database (PGlite) admits one process at a time: stop the
 * server first, or use the admin API (`/v1/keys`).
 */
async function withDatabase<T>(fn: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    return await fn(database);
  } finally {
    await database.close();
  }
}

/**
 * `verdict keys`: API keys (create, list, revoke) and Verdict's signing key (rotate-signing),
 * straight in the database. `create` prints the key alone on stdout, so scripts can capture it.
 */
export function registerKeys(program: Command): void {
  const keys = program.command("keys").description("manage API keys (roles: pep, auditor, policy-admin, admin) and the signing key");

  keys
    .command("create")
    .description("create an API key; prints the key (shown only this once) on stdout")
    .requiredOption("--role <role>", `one of ${ApiKeyRole.options.join(", ")}`)
    .requiredOption("--name <name>", "who holds it, e.g. the gateway's name")
    .action(async (opts: { role: string; name: string }) => {
      const role = ApiKeyRole.safeParse(opts.role);
      if (!role.success) {
        console.error(`unknown role ${JSON.stringify(opts.role)}: use one of ${ApiKeyRole.options.join(", ")}`);
        process.exitCode = 2;
        return;
      }
      const created = await withDatabase((d) => new ApiKeyStore(d.db).create({ name: opts.name, role: role.data }));
      console.error(`created ${created.info.role} key ${created.info.id} (${created.info.name}); it is not shown again:`);
      console.log(created.key);
    });

  keys
    .command("list")
    .description("list API keys (never the keys themselves)")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const list = await withDatabase((d) => new ApiKeyStore(d.db).list());
      if (opts.json) {
        console.log(JSON.stringify({ keys: list }, null, 2));
        return;
      }
      for (const k of list) {
        console.log([k.id, k.role.padEnd(12), k.prefix.padEnd(10), k.createdAt, k.revokedAt ? `revoked ${k.revokedAt}` : "active", k.name].join("  "));
      }
    });

  keys
    .command("revoke <id>")
    .description("revoke an API key (running servers stop accepting it within seconds)")
    .action(async (id: string) => {
      const revoked = await withDatabase((d) => new ApiKeyStore(d.db).revoke(id));
      if (!revoked) {
        console.error(`no API key ${id}`);
        process.exitCode = 1;
        return;
      }
      console.log(`revoked ${revoked.id} (${revoked.name}) at ${revoked.revokedAt}`);
    });

  keys
    .command("rotate-signing")
    .description("sign credentials with a new key; the old one stays in the JWKS for a day")
    .action(async () => {
      const kid = await withDatabase(async (d) => (await SigningKeys.open(d.db)).rotate());
      console.log(`signing with key ${kid}`);
    });
}
