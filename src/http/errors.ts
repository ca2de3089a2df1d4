/**
 * Verdict's one error type. Anything the HTTP layer must answer with a non-200 is thrown as a
 * {@link VerdictError} and turned into `{"error": {code, message, details?}}` in exactly one
 * place, the app's `onError` (DESIGN.md "Wire contract").
 */
import type { ZodError } from "zod";

/** Machine codes and their HTTP status. */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_json: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  payload_too_large: 413,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class VerdictError extends Error {
  readonly status: (typeof ERROR_STATUS)[ErrorCode];
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "VerdictError";
    this.status = ERROR_STATUS[code];
  }

  /** The wire body of this error. */
  toBody(): { error: { code: string; message: string; details?: unknown } } {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

/** A 400 that names each field zod rejected, e.g. `agent: expected string, received number`. */
export function fromZod(err: ZodError, where = "body"): VerdictError {
  const issues = err.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
  const message = issues.map((i) => `${i.path || where}: ${i.message}`).join("; ");
  return new VerdictError("bad_request", `invalid ${where}: ${message}`, { issues });
}
