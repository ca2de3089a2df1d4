/**
 * Browser-facing headers (`hono/secure-headers`) on every answer. The API answers JSON that a
 * browser must never render, run or frame: `X-Content-Type-Options: nosniff`, a CSP that loads
 * nothing (`default-src 'none'; frame-ancestors 'none'`), `X-Frame-Options: DENY`,
 * `Referrer-Policy: no-referrer` and same-origin resource and opener policies. The explorer
 * (`/ui`) sets its own CSP ({@link UI_CONTENT_SECURITY_POLICY}); the API's headers do not
 * overwrite a header a route set itself. No `Strict-Transport-Security`: Verdict speaks plain
 * HTTP and TLS is ended in front of it, where HSTS belongs (with the operator's own choice of
 * `max-age` and `includeSubDomains`).
 */
import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";

/** The headers every answer carries, unless its route set them itself. */
export function apiSecureHeaders(): MiddlewareHandler {
  return secureHeaders({
    contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    xFrameOptions: "DENY",
    strictTransportSecurity: false,
    overwrite: false,
  });
}

/**
 * The explorer's CSP: its own scripts and styles only (no inline script; inline styles, which
 * uPlot's charts set, are allowed), calls to its own origin only, never framed. Checked against
 * `src/ui/static`: no inline `<script>`, no event-handler attributes.
 */
export const UI_CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", "data:"],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};
