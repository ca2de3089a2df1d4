/**
 * Published policy-set versions in Postgres: publish (validated, content-addressed), list,
 * resolve, activate and roll back. Activation appends to `policy_set_activations` and sends
 * `NOTIFY verdict_policy_set` in the same transaction, so a replica that hears the
 * notification always finds the new row (Postgres delivers notifications at commit).
 */
import { desc, eq, like, sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { policySetActivations, policySetVersions } from "../db/policy-sets-schema.js";
import { buildPolicySet } from "../policy/build.js";
import type { PolicySet } from "../policy/policy-set.js";
import { policySetVersion, type PolicySetSources } from "../policy/sources.js";

/** Channel of the notification sent on every activation; its payload is the version. */
export const ACTIVATION_CHANNEL = "verdict_policy_set";
/**
 * Channel of the notification sent when a version is first published (payload: the version),
 * so replicas build it ahead of its activation and the switch itself is only a swap.
 */
export const PUBLISH_CHANNEL = "verdict_policy_set_published";

/** A published version, without its sources. */
export interface VersionInfo {
  version: string;
  publishedAt: Date;
  publishedBy: string | null;
  parent: string | null;
  message: string | null;
}

/** A version reference does not name exactly one published version. */
export class VersionLookupError extends Error {
  constructor(
    message: string,
    readonly kind: "not_found" | "ambiguous",
  ) {
    super(message);
    this.name = "VersionLookupError";
  }
}

/** Who did something and why, as recorded with it. */
export interface Actor {
  /** The caller (from the request's credentials), null when the request carried none. */
  by: string | null;
  message?: string | null;
  parent?: string | null;
}

/**
 * Keeps built policy sets by version, so that activating, replaying or diffing a version
 * builds it (parse, validate, preparse in the engine: about 100 ms) once.
 */
export class PolicySetCache {
  private readonly sets = new Map<string, PolicySet>();
  constructor(private readonly capacity = 8) {}

  /**
   * The built set for these sources.
   * @throws PolicySetError when the sources do not validate
   */
  build(sources: PolicySetSources): PolicySet {
    const version = policySetVersion(sources);
    const hit = this.sets.get(version);
    if (hit) {
      this.sets.delete(version);
      this.sets.set(version, hit);
      return hit;
    }
    const built = buildPolicySet(sources);
    this.remember(built);
    return built;
  }

  /** Whether the version is built and kept. */
  has(version: string): boolean {
    return this.sets.has(version);
  }

  /** Adds a set built elsewhere (the one loaded at start). */
  remember(ps: PolicySet): void {
    this.sets.set(ps.version, ps);
    while (this.sets.size > this.capacity) this.sets.delete(this.sets.keys().next().value!);
  }
}

/**
 * Publishes sources as a version. Validation comes first (strict Cedar validation and every
 * check of `buildPolicySet`); publishing the same sources again changes nothing.
 * @returns the version, and whether this call created it
 * @throws PolicySetError with the validator's errors when the sources are invalid
 */
export async function publishVersion(
  db: Db,
  sources: PolicySetSources,
  actor: Actor,
  cache: PolicySetCache,
): Promise<{ info: VersionInfo; created: boolean; policySet: PolicySet }> {
  const policySet = cache.build(sources);
  const row = {
    version: policySet.version,
    sources,
    publishedAt: new Date(),
    publishedBy: actor.by,
    parent: actor.parent ?? null,
    message: actor.message ?? null,
  };
  const inserted = await db.transaction(async (tx) => {
    const rows = await tx.insert(policySetVersions).values(row).onConflictDoNothing().returning({ version: policySetVersions.version });
    if (rows.length) await tx.execute(sql`SELECT pg_notify(${PUBLISH_CHANNEL}, ${policySet.version})`);
    return rows;
  });
  const info = inserted.length ? row : (await getVersionInfo(db, policySet.version))!;
  return { info: pickInfo(info), created: inserted.length > 0, policySet };
}

function pickInfo(r: VersionInfo): VersionInfo {
  return { version: r.version, publishedAt: r.publishedAt, publishedBy: r.publishedBy, parent: r.parent, message: r.message };
}

async function getVersionInfo(db: Db, version: string): Promise<VersionInfo | undefined> {
  const [row] = await db.select().from(policySetVersions).where(eq(policySetVersions.version, version));
  return row ? pickInfo(row) : undefined;
}

/** Every published version, newest first. */
export async function listVersions(db: Db): Promise<VersionInfo[]> {
  const rows = await db
    .select({
      version: policySetVersions.version,
      publishedAt: policySetVersions.publishedAt,
      publishedBy: policySetVersions.publishedBy,
      parent: policySetVersions.parent,
      message: policySetVersions.message,
    })
    .from(policySetVersions)
    .orderBy(desc(policySetVersions.publishedAt));
  return rows;
}

/** The most recently published version, or null when none is. */
export async function newestVersion(db: Db): Promise<string | null> {
  const [row] = await db.select({ version: policySetVersions.version }).from(policySetVersions).orderBy(desc(policySetVersions.publishedAt)).limit(1);
  return row?.version ?? null;
}

/** The latest activation (the version in force for the fleet), or null when none was ever made. */
export async function activeVersion(db: Db): Promise<{ version: string; activatedAt: Date; activatedBy: string | null; reason: string } | null> {
  const [row] = await db.select().from(policySetActivations).orderBy(desc(policySetActivations.id)).limit(1);
  return row ?? null;
}

/** Activations, newest first. */
export async function activationHistory(db: Db, limit = 50): Promise<Array<{ version: string; activatedAt: Date; activatedBy: string | null; reason: string }>> {
  return db
    .select({ version: policySetActivations.version, activatedAt: policySetActivations.activatedAt, activatedBy: policySetActivations.activatedBy, reason: policySetActivations.reason })
    .from(policySetActivations)
    .orderBy(desc(policySetActivations.id))
    .limit(limit);
}

const HEX = /^(sha256:)?[0-9a-f]{6,64}$/;

/**
 * Resolves a version reference: a full `sha256:<hex>`, a unique prefix of its hex (at least 6
 * digits, with or without `sha256:`), or `active`.
 * @throws VersionLookupError `not_found` or `ambiguous`
 */
export async function resolveVersion(db: Db, ref: string): Promise<string> {
  if (ref === "active") {
    const a = await activeVersion(db);
    if (!a) throw new VersionLookupError("no version has been activated", "not_found");
    return a.version;
  }
  const lower = ref.toLowerCase();
  if (!HEX.test(lower)) throw new VersionLookupError(`${JSON.stringify(ref)} is not a version (sha256:<hex>, a hex prefix of at least 6 digits, or "active")`, "not_found");
  const prefix = lower.startsWith("sha256:") ? lower : `sha256:${lower}`;
  const rows = await db
    .select({ version: policySetVersions.version })
    .from(policySetVersions)
    .where(like(policySetVersions.version, `${prefix}%`))
    .limit(2);
  if (rows.length === 0) throw new VersionLookupError(`no published version ${ref}`, "not_found");
  if (rows.length > 1) throw new VersionLookupError(`${ref} names more than one version; give more digits`, "ambiguous");
  return rows[0]!.version;
}

/**
 * Loads and builds a published version.
 * @throws VersionLookupError when it is not published; PolicySetError when it no longer builds
 */
export async function loadVersion(db: Db, version: string, cache: PolicySetCache): Promise<{ policySet: PolicySet; info: VersionInfo }> {
  const [row] = await db.select().from(policySetVersions).where(eq(policySetVersions.version, version));
  if (!row) throw new VersionLookupError(`no published version ${version}`, "not_found");
  return { policySet: cache.build(row.sources as PolicySetSources), info: pickInfo(row) };
}

/**
 * Makes a published version the one in force for every replica: appends an activation and
 * notifies listeners in one transaction.
 */
export async function recordActivation(db: Db, version: string, actor: Actor, reason: "activate" | "rollback"): Promise<{ activatedAt: Date }> {
  const activatedAt = new Date();
  await db.transaction(async (tx) => {
    await tx.insert(policySetActivations).values({ version, activatedAt, activatedBy: actor.by, reason });
    await tx.execute(sql`SELECT pg_notify(${ACTIVATION_CHANNEL}, ${version})`);
  });
  return { activatedAt };
}

/**
 * The version that was in force before the current one: the newest activation whose version
 * differs from the current one.
 * @throws VersionLookupError when there is nothing to roll back to
 */
export async function previousVersion(db: Db): Promise<string> {
  const history = await activationHistory(db, 1000);
  const current = history[0]?.version;
  if (!current) throw new VersionLookupError("no version has been activated, so there is nothing to roll back", "not_found");
  const before = history.find((h) => h.version !== current);
  if (!before) throw new VersionLookupError("only one version has ever been active; there is nothing to roll back to", "not_found");
  return before.version;
}
