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
  /** The resource is not in a state that allows the request (an approval decided already, or expired). */
  conflict: 409,
  payload_too_large: 413,
  /** The request passed validation but the database refused its data: the decision is not recorded (docs/limits.md). */
  unrecordable_input: 400,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * An error answered as `{"error": {code, message, details?}}`. The message and details are sent
 * to the caller, so they must hold nothing but what the caller may see: for a 5xx, a fixed
 * sentence (never a driver's message, which can carry SQL, parameters and other callers'
 * records), with the underlying error as `cause`, which goes to the server's log only
 * (`toBody` never sends a 5xx's details).
 */
export class VerdictError extends Error {
  readonly status: (typeof ERROR_STATUS)[ErrorCode];
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "VerdictError";
    this.status = ERROR_STATUS[code];
  }

  /** The wire body of this error (no `details` for a 5xx). */
  toBody(): { error: { code: string; message: string; details?: unknown } } {
    const details = this.status >= 500 ? undefined : this.details;
    return { error: { code: this.code, message: this.message, ...(details === undefined ? {} : { details }) } };
  }
}

/** A 400 that names each field zod rejected, e.g. `agent: expected string, received number`. */
export function fromZod(err: ZodError, where = "body"): VerdictError {
  const issues = err.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
  const message = issues.map((i) => `${i.path || where}: ${i.message}`).join("; ");
  return new VerdictError("bad_request", `invalid ${where}: ${message}`, { issues });
}
