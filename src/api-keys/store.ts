/**
 * API keys: who may call Verdict and in which role (README "Security").
 *
 * A key is `vk_` followed by 32 random bytes (base64url), so it carries 256 bits of entropy.
 * Only its SHA-256 is stored. A fast hash is the right tool here: slow password hashes (bcrypt,
 * scrypt, argon2) exist to make guessing *low-entropy* secrets expensive, and nobody can guess
 * 2^256 candidates, so a stolen table of hashes reveals no key, while a fast hash keeps the
 * check to one indexed lookup per request. The one operator-chosen secret,
 * `VERDICT_ADMIN_KEY`, must itself be long and random (see README).
 */
import { createHash, randomBytes } from "node:crypto";
import { asc, count, eq, sql } from "drizzle-orm";
import type { ApiKeyInfo, ApiKeyRole } from "../contract/api-keys.js";
import { apiKeys } from "../db/auth-schema.js";
import type { Db } from "../db/client.js";

/** The id of the key seeded from `VERDICT_ADMIN_KEY`. */
export const ENV_ADMIN_KEY_ID = "admin-env";

/** Arbitrary constant: serialises the first-start bootstrap of replicas that start together. */
const BOOTSTRAP_LOCK = 727_004;

type Row = typeof apiKeys.$inferSelect;

/** SHA-256 (hex) of an API key: what the database stores and looks keys up by. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

function toInfo(r: Row): ApiKeyInfo {
  return {
    id: r.id,
    name: r.name,
    role: r.role as ApiKeyRole,
    prefix: r.prefix,
    ...(r.userId === null ? {} : { user: r.userId }),
    createdAt: r.createdAt.toISOString(),
    revokedAt: r.revokedAt?.toISOString() ?? null,
  };
}

/** A new key: what is listed, and the key itself (shown once). */
export interface CreatedApiKey {
  info: ApiKeyInfo;
  key: string;
}

/**
 * The API keys in the database, with a short cache of successful lookups so that a request
 * costs no query in the common case. A key revoked through this store stops working at once;
 * one revoked through another replica (or the CLI) stops within `cacheSeconds`.
 */
export class ApiKeyStore {
  private readonly cache = new Map<string, { info: ApiKeyInfo; until: number }>();

  /** @param cacheSeconds how long a successful lookup is reused (default 5 s; 0 disables) */
  constructor(
    private readonly db: Db,
    private readonly opts: { cacheSeconds?: number } = {},
  ) {}

  /**
   * Creates a key with 256 random bits.
   * @returns its listing and the key itself, which is not stored and cannot be shown again
   */
  async create(input: { name: string; role: ApiKeyRole; user?: string }): Promise<CreatedApiKey> {
    const key = `vk_${randomBytes(32).toString("base64url")}`;
    const [row] = await this.db
      .insert(apiKeys)
      .values({
        id: `key_${randomBytes(8).toString("hex")}`,
        name: input.name,
        role: input.role,
        hash: hashApiKey(key),
        prefix: key.slice(0, 10),
        userId: input.user ?? null,
        createdAt: new Date(),
      })
      .returning();
    return { info: toInfo(row!), key };
  }

  /** Every key, revoked ones included, oldest first. */
  async list(): Promise<ApiKeyInfo[]> {
    return (await this.db.select().from(apiKeys).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id))).map(toInfo);
  }

  /**
   * Revokes a key (idempotent: an already revoked key keeps its first revocation time).
   * @returns the key as now listed, or null when there is no key with this id
   */
  async revoke(id: string): Promise<ApiKeyInfo | null> {
    await this.db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(sql`${apiKeys.id} = ${id} AND ${apiKeys.revokedAt} IS NULL`);
    const [row] = await this.db.select().from(apiKeys).where(eq(apiKeys.id, id));
    for (const [hash, entry] of this.cache) if (entry.info.id === id) this.cache.delete(hash);
    return row ? toInfo(row) : null;
  }

  /**
   * Looks a presented key up.
   * @returns the key's listing, or null when the key is unknown or revoked
   * @throws when the database cannot be read (the caller answers with an error, never lets the request through)
   */
  async authenticate(key: string): Promise<ApiKeyInfo | null> {
    const hash = hashApiKey(key);
    const cached = this.cache.get(hash);
    if (cached && cached.until > Date.now()) return cached.info;
    const [row] = await this.db.select().from(apiKeys).where(eq(apiKeys.hash, hash));
    if (!row || row.revokedAt) {
      this.cache.delete(hash);
      return null;
    }
    const info = toInfo(row);
    const ttl = (this.opts.cacheSeconds ?? 5) * 1000;
    if (ttl > 0) this.cache.set(hash, { info, until: Date.now() + ttl });
    return info;
  }

  /**
   * Makes sure someone can administer Verdict (run once at start):
   * - `adminKey` given (`VERDICT_ADMIN_KEY`): it becomes (or stays) the admin key `admin-env`;
   *   a changed value replaces the old one, and a revoked `admin-env` is re-enabled, because
   *   whoever sets the environment already holds the keys to the deployment.
   * - not given: a previously seeded `admin-env` is revoked (unsetting the variable withdraws
   *   it), and when the database holds no key at all, revoked or not, an admin key named
   *   `bootstrap` is created and returned, for the operator to be told once.
   * @returns the bootstrap key when one was created, else null
   */
  async ensureAdmin(adminKey: string | undefined): Promise<CreatedApiKey | null> {
    if (adminKey !== undefined) {
      const values = { name: "VERDICT_ADMIN_KEY", role: "admin", hash: hashApiKey(adminKey), prefix: "(env)", revokedAt: null };
      // Under the bootstrap lock: workers starting together upsert the same row, and a concurrent
      // insert of the same key can fail on the unique `hash` before `id` is seen to conflict.
      await this.db.transaction(async (tx) => {
        await tx.execute(sql`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`);
        await tx
          .insert(apiKeys)
          .values({ id: ENV_ADMIN_KEY_ID, createdAt: new Date(), ...values })
          .onConflictDoUpdate({ target: apiKeys.id, set: values });
      });
      this.cache.clear();
      return null;
    }
    await this.revoke(ENV_ADMIN_KEY_ID);
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`);
      const [{ n }] = (await tx.select({ n: count() }).from(apiKeys)) as [{ n: number }];
      if (Number(n) > 0) return null;
      return new ApiKeyStore(tx as unknown as Db).create({ name: "bootstrap", role: "admin" });
    });
  }
}
