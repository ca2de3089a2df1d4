/**
 * Verdict's own ES256 signing keys, kept in the database so that every replica signs with the
 * same key set and publishes the same JWKS (`/.well-known/jwks.json`, RFC 7517).
 *
 * Rotation adds a new key and retires the old one; a retired key no longer signs but stays in
 * the JWKS for `graceSeconds`, so tokens and checkpoints it signed stay verifiable until they
 * expire. The private keys are stored as JWKs in the database: protect the database (and its
 * backups) as you would a key store.
 *
 * Signed checkpoints of the decision record (`audit/checkpoints.ts`) can instead be signed with a
 * key held outside the database (`VERDICT_SIGNING_KEY` or `VERDICT_SIGNING_KEY_FILE`), which the
 * verifier then trusts alone: someone who administers the database but holds no copy of that
 * key cannot forge a chain head (docs/tamper-evidence.md).
 */
import { createHash, createPrivateKey, createPublicKey, randomUUID, type KeyObject } from "node:crypto";
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

/** An ES256 (P-256) signing key held outside the database. */
export interface ExternalSigningKey {
  /** The JWK's `kid`, or its RFC 7638 thumbprint when it has none. */
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

/**
 * Whose keys a verifier of signed checkpoints trusts: keys from the configuration (the external
 * signing key's public half, and `VERDICT_VERIFY_KEYS_FILE`), or, when none is configured, every
 * key in the database's `signing_keys` (weaker: whoever can write that table can add a key).
 */
export type ChainTrust = { source: "config"; keys: JWK[] } | { source: "database" };

/**
 * The trust of a verifier run from the configuration (`verdict audit verify`): the external
 * signing key's public half and `VERDICT_VERIFY_KEYS_FILE`'s keys, or the database's keys when
 * neither is set. The same rule as {@link SigningKeys.chainTrust}.
 */
export function chainTrustOf(config: { signingKey?: ExternalSigningKey; verifyKeys?: JWK[] }): ChainTrust {
  const keys = [...(config.signingKey ? [config.signingKey.publicJwk] : []), ...(config.verifyKeys ?? [])];
  return keys.length ? { source: "config", keys } : { source: "database" };
}

/** A key text is not an ES256 key; the message says why (never the key material). */
export class KeyFormatError extends Error {}

/** RFC 7638 thumbprint (SHA-256, base64url) of a P-256 public JWK. */
function thumbprint(jwk: JWK): string {
  return createHash("sha256").update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest("base64url");
}

function requireP256(key: KeyObject): void {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new KeyFormatError(`not an ES256 key: ${key.asymmetricKeyType ?? "symmetric"} ${key.asymmetricKeyDetails?.namedCurve ?? ""}, expected EC P-256`.trim());
  }
}

/** The PEM blocks of a text. */
function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g) ?? [];
}

function publicOf(key: KeyObject, kid?: string): JWK {
  const jwk = key.type === "private" ? createPublicKey(key).export({ format: "jwk" }) : key.export({ format: "jwk" });
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid: kid ?? thumbprint(jwk as JWK), alg: SIGNING_ALG, use: "sig" };
}

/**
 * Reads a private ES256 key: a JWK (JSON, with `d`) or a PEM block (PKCS#8 `PRIVATE KEY` or SEC1
 * `EC PRIVATE KEY`).
 * @throws KeyFormatError when the text is neither, or the key is not P-256
 */
export function parseSigningKey(text: string): ExternalSigningKey {
  let key: KeyObject;
  let kid: string | undefined;
  try {
    const trimmed = text.trim();
    if (trimmed.startsWith("{")) {
      const jwk = JSON.parse(trimmed) as JWK;
      if (!jwk.d) throw new KeyFormatError("the JWK has no private part (d)");
      kid = typeof jwk.kid === "string" && jwk.kid ? jwk.kid : undefined;
      key = createPrivateKey({ key: jwk as never, format: "jwk" });
    } else {
      const [pem] = pemBlocks(trimmed);
      if (!pem) throw new KeyFormatError("neither a JWK nor a PEM private key");
      key = createPrivateKey(pem);
    }
  } catch (e) {
    if (e instanceof KeyFormatError) throw e;
    throw new KeyFormatError(`not a readable private key (${(e as { code?: string }).code ?? "invalid"})`);
  }
  requireP256(key);
  const publicJwk = publicOf(key, kid);
  const privateJwk = { ...key.export({ format: "jwk" }), kid: publicJwk.kid, alg: SIGNING_ALG } as JWK;
  return { kid: publicJwk.kid!, privateJwk, publicJwk };
}

/**
 * Reads the public ES256 keys a verifier trusts: a JWK, a JWKS (`{"keys": [...]}`), or PEM blocks
 * (`PUBLIC KEY`; a private key's public half is taken too).
 * @throws KeyFormatError when the text holds no such key, or one is not P-256
 */
export function parsePublicKeys(text: string): JWK[] {
  const trimmed = text.trim();
  const keys: KeyObject[] = [];
  const kids: (string | undefined)[] = [];
  try {
    if (trimmed.startsWith("{")) {
      const json = JSON.parse(trimmed) as JWK | Jwks;
      const list = "keys" in json && Array.isArray(json.keys) ? json.keys : [json as JWK];
      for (const jwk of list) {
        const { d: _private, ...pub } = jwk;
        keys.push(createPublicKey({ key: pub as never, format: "jwk" }));
        kids.push(typeof jwk.kid === "string" && jwk.kid ? jwk.kid : undefined);
      }
    } else {
      for (const pem of pemBlocks(trimmed)) {
        keys.push(createPublicKey(pem));
        kids.push(undefined);
      }
    }
  } catch (e) {
    throw new KeyFormatError(`not a readable public key (${(e as { code?: string }).code ?? "invalid"})`);
  }
  if (!keys.length) throw new KeyFormatError("no key found (expected a JWK, a JWKS or PEM PUBLIC KEY blocks)");
  return keys.map((k, i) => {
    requireP256(k);
    return publicOf(k, kids[i]);
  });
}

export class SigningKeys {
  private keys: LoadedKey[] = [];
  private chainKey: { kid: string; privateKey: PrivateKey } | null = null;

  /**
   * @param db where keys live
   * @param graceSeconds how long a retired key stays published (default 1 day; at least the
   *   longest lifetime of anything Verdict signs)
   * @param chain the key that signs checkpoints instead of the database's, and the public keys
   *   verifiers trust (see {@link ChainTrust})
   */
  private constructor(
    private readonly db: Db,
    readonly graceSeconds: number,
    private readonly chain: { key?: ExternalSigningKey; verifyKeys?: JWK[] },
  ) {}

  /**
   * Loads the key set, creating the first key when there is none.
   * @param opts.chainKey sign checkpoints with this key held outside the database
   * @param opts.chainVerifyKeys public keys a verifier trusts for checkpoints (besides `chainKey`'s)
   * @throws when the database cannot be read or written
   */
  static async open(db: Db, opts: { graceSeconds?: number; chainKey?: ExternalSigningKey; chainVerifyKeys?: JWK[] } = {}): Promise<SigningKeys> {
    const keys = new SigningKeys(db, opts.graceSeconds ?? 86_400, { key: opts.chainKey, verifyKeys: opts.chainVerifyKeys });
    if (opts.chainKey) keys.chainKey = { kid: opts.chainKey.kid, privateKey: await importJWK(opts.chainKey.privateJwk, SIGNING_ALG) };
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
   * Signs a checkpoint of the decision record: with the external key when one is configured,
   * else with the database's active key (header `alg: ES256`, `kid`, `typ`).
   * @returns the compact JWS
   */
  async signChainJwt(payload: JWTPayload, typ: string): Promise<string> {
    if (!this.chainKey) return this.signJwt(payload, { typ });
    const jwt = new SignJWT(payload).setProtectedHeader({ alg: SIGNING_ALG, kid: this.chainKey.kid, typ });
    if (payload.iat === undefined) jwt.setIssuedAt();
    return jwt.sign(this.chainKey.privateKey);
  }

  /** Whose keys verifiers of checkpoints trust (see {@link ChainTrust}). */
  chainTrust(): ChainTrust {
    return chainTrustOf({ signingKey: this.chain.key, verifyKeys: this.chain.verifyKeys });
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
