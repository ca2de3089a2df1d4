/**
 * The policy-set administration surface of the wire contract (`/v1/policy-sets`): the sources of
 * a version, publishing, templates and links, and replay's request. Their answers are in
 * `responses.ts`. Imports nothing from the server side.
 */
import { z } from "zod";
import { EntityUid } from "./decision.js";

/**
 * The files of a policy set, as text (`POST /v1/policy-sets`): `*.cedarschema` files by path,
 * pinned catalogs by server id, `*.cedar` files by path, `entities.json`, `links.json` and the
 * schema directory's `groups.json` (declared tool groups).
 */
export const PolicySetSources = z.object({
  schema: z.record(z.string(), z.string()),
  catalogs: z.record(z.string(), z.string()),
  policies: z.record(z.string(), z.string()),
  entities: z.string().nullable(),
  links: z.string().optional(),
  groups: z.string().optional(),
});
export type PolicySetSources = z.infer<typeof PolicySetSources>;

/** `POST /v1/policy-sets` body: publish a version (validated; not activated). */
export const PublishRequest = z.object({ sources: PolicySetSources, message: z.string().max(2_000).optional() });
export type PublishRequest = z.input<typeof PublishRequest>;

/** A published version (`GET /v1/policy-sets` items, and the answer to publish and edits). */
export const PolicySetVersionInfo = z.object({
  version: z.string(),
  publishedAt: z.string(),
  publishedBy: z.string().nullable(),
  parent: z.string().nullable(),
  message: z.string().nullable(),
  active: z.boolean(),
});
export type PolicySetVersionInfo = z.infer<typeof PolicySetVersionInfo>;

const policyId = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "letters, digits and _ . : - only (at most 128)");

/** `POST /v1/policy-sets/{version}/templates` body: a new version with this Cedar template added. */
export const TemplateRequest = z.object({ id: policyId, text: z.string().min(1).max(64_000), message: z.string().max(2_000).optional() });
export type TemplateRequest = z.input<typeof TemplateRequest>;

/** `POST /v1/policy-sets/{version}/links` body: a new version with this template-linked policy. */
export const LinkRequest = z.object({
  templateId: z.string().min(1),
  id: policyId,
  principal: EntityUid.optional(),
  resource: EntityUid.optional(),
  message: z.string().max(2_000).optional(),
});
export type LinkRequest = z.input<typeof LinkRequest>;

/** `POST /v1/policy-sets/{version}/replay` body. `until` is exclusive. */
export const ReplayRequest = z.object({
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  examples: z.number().int().min(0).max(100).default(10),
});
export type ReplayRequest = z.input<typeof ReplayRequest>;
