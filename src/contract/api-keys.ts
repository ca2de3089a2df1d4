/**
 * The API-key surface of the wire contract (`/v1/keys`): roles, the create request and the key
 * as created and as listed. Imports nothing from the server side.
 */
import { z } from "zod";
import { boundedString, ID_MAX } from "./limits.js";

/** The role of an API key: what its holder may call (see README "Security"). */
export const ApiKeyRole = z.enum(["pep", "auditor", "policy-admin", "metrics", "admin", "approver"]);
export type ApiKeyRole = z.infer<typeof ApiKeyRole>;

/**
 * `POST /v1/keys` body. `user`: the person an `approver` key is for (an `Mcp::User` id, at most
 * 256 characters); required for `approver` (approvers are people), refused for any other role.
 */
export const ApiKeyCreateRequest = z
  .object({ name: z.string().min(1).max(128), role: ApiKeyRole, user: boundedString(ID_MAX).optional() })
  .refine((r) => (r.role === "approver") === (r.user !== undefined), {
    error: "an approver key is created for one user (user is required), and only an approver key names a user",
    path: ["user"],
  });
export type ApiKeyCreateRequest = z.infer<typeof ApiKeyCreateRequest>;

/** An API key as listed: never the key, only its first characters (`prefix`). */
export const ApiKeyInfo = z.object({
  id: z.string(),
  name: z.string(),
  role: ApiKeyRole,
  prefix: z.string(),
  /** The person an `approver` key is for; absent for other roles. */
  user: z.string().optional(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
});
export type ApiKeyInfo = z.infer<typeof ApiKeyInfo>;

/** `POST /v1/keys` answer: the key itself, shown this once. */
export const ApiKeyCreated = ApiKeyInfo.extend({ key: z.string() });
export type ApiKeyCreated = z.infer<typeof ApiKeyCreated>;

/** `GET /v1/keys` answer. */
export const ApiKeyList = z.object({ keys: z.array(ApiKeyInfo) });
export type ApiKeyList = z.infer<typeof ApiKeyList>;
