import type { Command } from "commander";
import { ApiKeyStore } from "../../api-keys/store.js";
import { ApiKeyCreateRequest, ApiKeyRole, type ApiKeyCreated, type ApiKeyInfo } from "../../contract/api-keys.js";
import { SigningKeys } from "../../signing-keys/store.js";
import { api, keyOption, namedServerOf, urlOption } from "../client.js";
import { withDatabase } from "../database.js";
import { table } from "../output.js";

/** What the refusal tells an operator whose server holds the embedded database. */
const THROUGH_API = "--url <its URL> (or VERDICT_URL) and an admin key (--key, VERDICT_API_KEY or VERDICT_ADMIN_KEY)";

/** `--url` and `--key`: with a URL (or `VERDICT_URL`), the command goes through that server's admin API instead of the database. */
function viaServer(cmd: Command): Command {
  return cmd
    .addOption(urlOption("Go through this Verdict's admin API instead of the database, needed while a server holds the embedded database (default: VERDICT_URL)."))
    .addOption(keyOption("The admin API key for --url (default: VERDICT_API_KEY, else VERDICT_ADMIN_KEY)."));
}

/**
 * `verdict keys`: API keys (create, list, revoke; an `approver` key is created for one person,
 * `--user`) and Verdict's signing key (rotate-signing), straight in the database, or with
 * `--url` through a running server's admin API (`/v1/keys`, `/v1/signing-keys/rotate`). While a server holds the embedded database the direct way is
 * refused (exit 1, nothing written). `create` prints the key alone on stdout, so scripts can
 * capture it; it prints a key only once the key is committed.
 */
export function registerKeys(program: Command): void {
  const keys = program.command("keys").description(`Manage API keys (roles: ${ApiKeyRole.options.join(", ")}) and the signing key.`);

  viaServer(
    keys
      .command("create")
      .description("Create an API key and print it on stdout (it is shown only this once).")
      .requiredOption("--role <role>", `Its role: one of ${ApiKeyRole.options.join(", ")}.`)
      .requiredOption("--name <name>", "Who holds it, e.g. the gateway's name.")
      .option("--user <id>", "The person an approver key is for (an Mcp::User id); required with --role approver, refused with any other role."),
  ).action(async (opts: { role: string; name: string; user?: string; url?: string; key?: string }) => {
    const role = ApiKeyRole.safeParse(opts.role);
    if (!role.success) {
      console.error(`unknown role ${JSON.stringify(opts.role)}: use one of ${ApiKeyRole.options.join(", ")}`);
      process.exitCode = 2;
      return;
    }
    // Approvers are people: checked here too, since the database way has no API to refuse it.
    if ((role.data === "approver") !== (opts.user !== undefined)) {
      console.error(role.data === "approver" ? "an approver key is created for one person: add --user <id>" : `--user names the person of an approver key; a ${role.data} key names no user`);
      process.exitCode = 2;
      return;
    }
    const parsed = ApiKeyCreateRequest.safeParse({ name: opts.name, role: role.data, ...(opts.user === undefined ? {} : { user: opts.user }) });
    if (!parsed.success) {
      console.error(parsed.error.issues.map((i) => `--${String(i.path[0] ?? "name")}: ${i.message}`).join("\n"));
      process.exitCode = 2;
      return;
    }
    const request = parsed.data;
    const via = namedServerOf(opts);
    const created = via
      ? await api<ApiKeyCreated>(via, "POST", "/v1/keys", request).then((c) => ({ info: c, key: c.key }))
      : await withDatabase(THROUGH_API, (d) => new ApiKeyStore(d.db).create(request));
    console.error(`created ${created.info.role} key ${created.info.id} (${created.info.name}${created.info.user ? `, for ${created.info.user}` : ""}); it is not shown again:`);
    console.log(created.key);
  });

  viaServer(keys.command("list").description("List the API keys (never the keys themselves).").option("--json", "Print JSON.")).action(
    async (opts: { json?: boolean; url?: string; key?: string }) => {
      const via = namedServerOf(opts);
      const list = via ? (await api<{ keys: ApiKeyInfo[] }>(via, "GET", "/v1/keys")).keys : await withDatabase(THROUGH_API, (d) => new ApiKeyStore(d.db).list());
      if (opts.json) {
        console.log(JSON.stringify({ keys: list }, null, 2));
        return;
      }
      console.log(
        table(
          ["ID", "ROLE", "PREFIX", "CREATED", "STATUS", "NAME"],
          list.map((k) => [k.id, k.role, k.prefix, k.createdAt, k.revokedAt ? `revoked ${k.revokedAt}` : "active", k.user ? `${k.name} (for ${k.user})` : k.name]),
        ),
      );
    },
  );

  viaServer(keys.command("revoke <id>").description("Revoke an API key (running servers stop accepting it within seconds).")).action(
    async (id: string, opts: { url?: string; key?: string }) => {
      const via = namedServerOf(opts);
      const revoked = via
        ? await api<ApiKeyInfo>(via, "DELETE", `/v1/keys/${encodeURIComponent(id)}`)
        : await withDatabase(THROUGH_API, (d) => new ApiKeyStore(d.db).revoke(id));
      if (!revoked) {
        console.error(`no API key ${id}`);
        process.exitCode = 1;
        return;
      }
      console.log(`revoked ${revoked.id} (${revoked.name}) at ${revoked.revokedAt}`);
    },
  );

  viaServer(keys.command("rotate-signing").description("Sign credentials with a new key; the old one stays in the JWKS for a day.")).action(
    async (opts: { url?: string; key?: string }) => {
      const via = namedServerOf(opts);
      const kid = via
        ? (await api<{ kid: string }>(via, "POST", "/v1/signing-keys/rotate")).kid
        : await withDatabase(THROUGH_API, async (d) => (await SigningKeys.open(d.db)).rotate());
      console.log(`signing with key ${kid}`);
    },
  );
}
