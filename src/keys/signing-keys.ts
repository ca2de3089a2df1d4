/**
 * Verdict's own ES256 signing keys, kept in the database so that every replica signs with the
 * same key set and publishes the same JWKS (`/.well-known/jwks.json`, RFC 7517).
 *
 * Rotation adds a new key and retires the old one; a retired key no longer signs but stays in
 * the JWKS for `graceSeconds`, so tokens and checkpoints it signed stay verifiable until they
 * expire. The private keys are stored as JWKs in the database: protect the database (and its
 * backups) as you would a key store.
 */
import { randomUUID } from "node:crypto";
import { and, desc, eq, gt, isNull, or } from "drizzle-orm";
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK, type JWTPayload, type JWTVerifyOptions } from "jose";
import type { Db } from "../db/client.js";
import { signingKeys } from "../db/keys-schema.js";

/** The algorithm of every Verdict key (ECDSA P-256 with SHA-256, RFC 7518 §3.4). */
export const SIGNING_ALG = "ES256";

type PrivateKey = Awaited<ReturnType<typeof importJWK>>;

interface LoadedKey {
  kid: string;
  publicJwk: JWK;
  privateKey: PrivateKey;
  publicKey: PrivateKey;
  createdAt: Date;
  retiredAt: Date | null;
}

/** A JSON Web Key Set of public keys (RFC 7517 §5). */
export interface Jwks {
  keys: JWK[];
}

export class SigningKeys {
  private keys: LoadedKey[] = [];

  /**
   * @param db where keys live
   * @param graceSeconds how long a retired key stays published (default 1 day; at least the
   *   longest lifetime of anything Verdict signs)
   */
  private constructor(
    private readonly db: Db,
    readonly graceSeconds: number,
  ) {}

  /**
   * Loads the key set, creating the first key when there is none.
   * @throws when the database cannot be read or written
   */
  static async open(db: Db, opts: { graceSeconds?: number } = {}): Promise<SigningKeys> {
    const keys = new SigningKeys(db, opts.graceSeconds ?? 86_400);
    await keys.refresh();
    if (!keys.active()) {
      await keys.create();
      await keys.refresh();
    }
    return keys;
  }

  /** Re-reads the key set (another replica may have rotated). */
  async refresh(): Promise<void> {
    const horizon = new Date(Date.now() - this.graceSeconds * 1000);
    const rows = await this.db
      .select()
      .from(signingKeys)
      .where(or(isNull(signingKeys.retiredAt), gt(signingKeys.retiredAt, horizon)))
      .orderBy(desc(signingKeys.createdAt));
    const loaded: LoadedKey[] = [];
    for (const r of rows) {
      loaded.push({
        kid: r.kid,
        publicJwk: r.publicJwk as JWK,
        privateKey: await importJWK(r.privateJwk as JWK, SIGNING_ALG),
        publicKey: await importJWK(r.publicJwk as JWK, SIGNING_ALG),
        createdAt: r.createdAt,
        retiredAt: r.retiredAt,
      });
    }
    this.keys = loaded;
  }

  private active(): LoadedKey | undefined {
    return this.keys.find((k) => k.retiredAt === null);
  }

  private async create(): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const kid = randomUUID();
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALG, use: "sig" };
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALG };
    await this.db.insert(signingKeys).values({ kid, alg: SIGNING_ALG, publicJwk, privateJwk, createdAt: new Date() });
    return kid;
  }

  /**
   * Adds a new signing key and retires the current one (it stays in the JWKS for the grace period).
   * @returns the new key id
   */
  async rotate(): Promise<string> {
    const current = this.active();
    const kid = await this.create();
    if (current) {
      await this.db
        .update(signingKeys)
        .set({ retiredAt: new Date() })
        .where(and(eq(signingKeys.kid, current.kid), isNull(signingKeys.retiredAt)));
    }
    await this.refresh();
    return kid;
  }

  /** The id of the key that signs now. */
  get activeKid(): string {
    return this.requireActive().kid;
  }

  private requireActive(): LoadedKey {
    const k = this.active();
    if (!k) throw new Error("no active signing key");
    return k;
  }

  /** The public keys (active and retired within the grace period), for `/.well-known/jwks.json`. */
  jwks(): Jwks {
    return { keys: this.keys.map((k) => k.publicJwk) };
  }

  /**
   * Signs a JWT with the active key (header `alg: ES256`, `kid`, and `typ` when given).
   * @param payload claims; `iat` is set when absent
   * @returns the compact JWS
   */
  async signJwt(payload: JWTPayload, opts: { typ?: string } = {}): Promise<string> {
    const key = this.requireActive();
    const jwt = new SignJWT(payload).setProtectedHeader({ alg: SIGNING_ALG, kid: key.kid, ...(opts.typ ? { typ: opts.typ } : {}) });
    if (payload.iat === undefined) jwt.setIssuedAt();
    return jwt.sign(key.privateKey);
  }

  /**
   * Verifies a JWT signed by one of Verdict's published keys.
   * @throws jose's errors (`JWTExpired`, `JWSSignatureVerificationFailed`, ...) or an Error for an unknown `kid`
   */
  async verifyJwt(token: string, options: JWTVerifyOptions = {}): Promise<JWTPayload> {
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        const key = this.keys.find((k) => k.kid === header.kid);
        if (!key) throw new Error(`unknown signing key ${String(header.kid)}`);
        return key.publicKey;
      },
      { algorithms: [SIGNING_ALG], ...options },
    );
    return payload;
  }
}
