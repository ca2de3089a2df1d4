/**
 * A token issuer for tests: its own key pair (made with jose), its JWKS served over real local
 * HTTP (node:http on a free port) or written to a file, and a `sign()` that mints JWTs with any
 * claims and header, including broken ones.
 */
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";

export interface TestIssuer {
  issuer: string;
  kid: string;
  jwks: { keys: JWK[] };
  /** URL of the JWKS, when served over HTTP. */
  jwksUrl?: string;
  /** Signs a JWT (default: `iss`, `iat`, `exp` in 5 minutes; `kid` of this issuer). */
  sign(claims: JWTPayload, opts?: { kid?: string; key?: CryptoKey; expiresIn?: string | number; typ?: string }): Promise<string>;
  close(): Promise<void>;
}

/**
 * Makes an issuer.
 * @param serve "http": serve the JWKS at `http://127.0.0.1:<port>/jwks.json`; a path: write it there
 */
export async function createTestIssuer(issuer: string, serve: "http" | { file: string }, alg: "ES256" | "RS256" = "ES256"): Promise<TestIssuer> {
  const { publicKey, privateKey } = await generateKeyPair(alg);
  const kid = `${alg.toLowerCase()}-${Math.random().toString(36).slice(2, 10)}`;
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg, use: "sig" }] };
  let server: Server | undefined;
  let jwksUrl: string | undefined;
  if (serve === "http") {
    server = createServer((req, res) => {
      if (req.url !== "/jwks.json") {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(jwks));
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  } else {
    writeFileSync(serve.file, JSON.stringify(jwks));
  }
  return {
    issuer,
    kid,
    jwks,
    jwksUrl,
    sign: async (claims, opts = {}) => {
      const jwt = new SignJWT({ iss: issuer, ...claims }).setProtectedHeader({ alg, kid: opts.kid ?? kid, ...(opts.typ ? { typ: opts.typ } : {}) });
      if (claims.iat === undefined) jwt.setIssuedAt();
      if (claims.exp === undefined) jwt.setExpirationTime(opts.expiresIn ?? "5m");
      return jwt.sign(opts.key ?? privateKey);
    },
    close: () => new Promise<void>((r) => (server ? server.close(() => r()) : r())),
  };
}
