/**
 * The policy-set admin API (`/v1/policy-sets`): publish, list, show, diff, activate, roll back,
 * templates and template links, and replay. A version is published (validated, stored,
 * content-addressed) before it can be activated; activation reaches every replica through
 * `NOTIFY` and polling (see `sync.ts`), and this replica at once.
 */
import { Hono, type Context } from "hono";
import { stream as streamBody } from "hono/streaming";
import { z } from "zod";
import { callerOf as keyCaller } from "../http/key-auth.js";
import { splitPolicies } from "../cedar/policies.js";
import { CedarParseError } from "../cedar/types.js";
import { LinkRequest, PublishRequest, ReplayRequest, TemplateRequest } from "../contract/policy-versions.js";
import type { AppDeps, AppEnv } from "../http/deps.js";
import { fromZod, VerdictError } from "../http/errors.js";
import { readBody } from "../http/validate.js";
import { PolicySetError } from "../policy/issues.js";
import type { PolicySetSources } from "../policy/sources.js";
import { diffVersions } from "./diff.js";
import { replay, type ReplayProgress } from "./replay.js";
import {
  activeVersion,
  listVersions,
  loadVersion,
  previousVersion,
  publishVersion,
  recordActivation,
  resolveVersion,
  VersionLookupError,
  type PolicySetCache,
  type VersionInfo,
} from "./store.js";

type Deps = AppDeps & { policySetCache: PolicySetCache };

/** `GET /v1/policy-sets/{version}/policies` query: up to 100 policy ids (`id=`, repeated). */
export const PolicyTextQuery = z.object({ id: z.array(z.string().min(1).max(1024)).max(100).default([]) });

/** `GET /v1/policy-sets/{version}/diff` query: the version to compare against (any reference; default the active one). */
export const DiffQuery = z.object({ against: z.string().min(1).optional() });

/** Who is calling: the API key the request authenticated with, as decision records name callers. */
function callerOf(c: Context<AppEnv>): string | null {
  const key = c.get("apiKey");
  return key ? keyCaller(key) : null;
}

/** Maps the store's and the loader's errors to the wire's. */
function wire(e: unknown): never {
  if (e instanceof VersionLookupError) throw new VerdictError(e.kind === "ambiguous" ? "bad_request" : "not_found", e.message);
  if (e instanceof PolicySetError) throw new VerdictError("bad_request", e.message, { issues: e.issues });
  throw e;
}

const infoJson = (i: VersionInfo, active: string | null) => ({ ...i, publishedAt: i.publishedAt.toISOString(), active: i.version === active });

export function policySetRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const db = deps.database.db;
  const cache = deps.policySetCache;

  const resolve = (ref: string) => resolveVersion(db, ref).catch(wire);
  const load = (version: string) => loadVersion(db, version, cache).catch(wire);

  /** Publishes sources derived from `parent` and answers 201 (or 200 when they were already published). */
  async function publish(c: Context<AppEnv>, sources: PolicySetSources, message: string | undefined, parent: string | null) {
    const { info, created } = await publishVersion(db, sources, { by: callerOf(c), message, parent }, cache).catch(wire);
    const active = (await activeVersion(db))?.version ?? null;
    return c.json({ ...infoJson(info, active), created }, created ? 201 : 200);
  }

  app.post("/v1/policy-sets", async (c) => {
    const body = await readBody(c, PublishRequest);
    return publish(c, body.sources, body.message, null);
  });

  app.get("/v1/policy-sets", async (c) => {
    const [versions, active] = await Promise.all([listVersions(db), activeVersion(db)]);
    return c.json({
      versions: versions.map((v) => infoJson(v, active?.version ?? null)),
      active: active ? { ...active, activatedAt: active.activatedAt.toISOString() } : null,
      serving: deps.policies.peek()?.version ?? null,
    });
  });

  /** Activates a published version for the fleet, and on this replica at once. */
  async function activate(c: Context<AppEnv>, version: string, reason: "activate" | "rollback") {
    const { policySet } = await load(version);
    const { activatedAt } = await recordActivation(db, version, { by: callerOf(c) }, reason);
    deps.policies.activate(policySet);
    return c.json({ version, activatedAt: activatedAt.toISOString(), reason });
  }

  app.post("/v1/policy-sets/rollback", async (c) => activate(c, await previousVersion(db).catch(wire), "rollback"));

  app.get("/v1/policy-sets/:version", async (c) => {
    const version = await resolve(c.req.param("version"));
    const { policySet, info } = await load(version);
    const active = (await activeVersion(db))?.version ?? null;
    return c.json({
      ...infoJson(info, active),
      policies: [...policySet.policies.values()].map((p) => ({ id: p.id, file: p.file, line: p.line, template: p.isTemplate })),
      links: policySet.links,
      sources: policySet.sources,
    });
  });

  /**
   * `GET /v1/policy-sets/{version}/policies?id=<policy id>&id=...`: the text of policies of one
   * version, for the explorer's decision detail (issue 11, defect 9: it showed the text of the
   * set in force, not of the version that decided). Readable by `auditor` and `policy-admin`
   * (see `ROUTE_ROLES`). Without `id`, every policy of the version. The version is a published
   * one (any reference `resolveVersion` takes), or the exact version this replica serves when it
   * was loaded from files and never published (`stored: false`).
   * @returns `{version, stored, active, serving, policies: [{id, file, line, template, text}], missing: [ids the version lacks]}`
   * @throws VerdictError 404 when the version's sources are not stored here (never published,
   *   and not served by this replica); 400 on a bad query
   */
  app.get("/v1/policy-sets/:version/policies", async (c) => {
    const q = PolicyTextQuery.safeParse({ id: c.req.queries("id") ?? [] });
    if (!q.success) throw fromZod(q.error, "query");
    const ref = c.req.param("version");
    const serving = deps.policies.peek();
    let policySet;
    let stored = true;
    try {
      policySet = (await loadVersion(db, await resolveVersion(db, ref), cache)).policySet;
    } catch (e) {
      // A reference that is not a version at all keeps the store's message.
      if (!(e instanceof VersionLookupError && e.kind === "not_found") || !/^(sha256:)?[0-9a-f]{6,64}$/i.test(ref)) wire(e);
      if (serving?.version !== ref.toLowerCase()) {
        throw new VerdictError("not_found", `the sources of version ${ref} are not stored: it was never published (verdict publish), and this replica does not serve it`);
      }
      policySet = serving;
      stored = false;
    }
    const ids = q.data.id.length ? q.data.id : [...policySet.policies.keys()];
    const found = ids.flatMap((id) => {
      const p = policySet.policies.get(id);
      return p ? [{ id, file: p.file, line: p.line, template: p.isTemplate, text: p.text }] : [];
    });
    const active = (await activeVersion(db))?.version ?? null;
    return c.json({
      version: policySet.version,
      stored,
      active: active === policySet.version,
      serving: serving?.version === policySet.version,
      policies: found,
      missing: ids.filter((id) => !policySet.policies.has(id)),
    });
  });

  app.get("/v1/policy-sets/:version/diff", async (c) => {
    const q = DiffQuery.safeParse(c.req.query());
    if (!q.success) throw fromZod(q.error, "query");
    const to = await resolve(c.req.param("version"));
    const from = await resolve(q.data.against ?? "active");
    const [a, b] = await Promise.all([load(from), load(to)]);
    return c.json(diffVersions(a.policySet, b.policySet));
  });

  app.post("/v1/policy-sets/:version/activate", async (c) => activate(c, await resolve(c.req.param("version")), "activate"));

  app.post("/v1/policy-sets/:version/templates", async (c) => {
    const base = await resolve(c.req.param("version"));
    const body = await readBody(c, TemplateRequest);
    let parts;
    try {
      parts = splitPolicies(body.text);
    } catch (e) {
      if (e instanceof CedarParseError) throw new VerdictError("bad_request", `template does not parse: ${e.issues.map((i) => i.message).join("; ")}`, { issues: e.issues });
      throw e;
    }
    if (parts.length !== 1 || !parts[0]!.isTemplate) {
      throw new VerdictError("bad_request", "text must be exactly one Cedar template (a policy with ?principal or ?resource)");
    }
    if (parts[0]!.annotations.id !== undefined && parts[0]!.annotations.id !== body.id) {
      throw new VerdictError("bad_request", `the template's @id(${JSON.stringify(parts[0]!.annotations.id)}) differs from id ${JSON.stringify(body.id)}`);
    }
    const { policySet } = await load(base);
    const text = parts[0]!.annotations.id !== undefined ? body.text : `@id(${JSON.stringify(body.id)})\n${body.text}`;
    const sources = { ...policySet.sources, policies: { ...policySet.sources.policies, [`templates/${body.id}.cedar`]: text.endsWith("\n") ? text : `${text}\n` } };
    return publish(c, sources, body.message ?? `template ${body.id}`, base);
  });

  app.post("/v1/policy-sets/:version/links", async (c) => {
    const base = await resolve(c.req.param("version"));
    const body = await readBody(c, LinkRequest);
    const { policySet } = await load(base);
    const values: Record<string, { type: string; id: string }> = {};
    if (body.principal) values["?principal"] = body.principal;
    if (body.resource) values["?resource"] = body.resource;
    const links = [...policySet.links, { templateId: body.templateId, newId: body.id, values }];
    const sources = { ...policySet.sources, links: JSON.stringify(links, null, 2) + "\n" };
    return publish(c, sources, body.message ?? `link ${body.id} to template ${body.templateId}`, base);
  });

  app.delete("/v1/policy-sets/:version/links/:id", async (c) => {
    const base = await resolve(c.req.param("version"));
    const { policySet } = await load(base);
    const id = c.req.param("id");
    const links = policySet.links.filter((l) => l.newId !== id);
    if (links.length === policySet.links.length) throw new VerdictError("not_found", `version ${base} has no template-linked policy ${JSON.stringify(id)}`);
    const sources: PolicySetSources = { ...policySet.sources };
    if (links.length) sources.links = JSON.stringify(links, null, 2) + "\n";
    else delete sources.links;
    return publish(c, sources, `unlink ${id}`, base);
  });

  app.post("/v1/policy-sets/:version/replay", async (c) => {
    const version = await resolve(c.req.param("version"));
    const body = await readBody(c, ReplayRequest);
    const { policySet } = await load(version);
    const opts = {
      since: body.since ? new Date(body.since) : undefined,
      until: body.until ? new Date(body.until) : undefined,
      examples: body.examples,
      // Open tool drift denies a drifted tool in replay as on tools/call (src/pdp/checks.ts).
      drift: deps.drift?.lookup,
    };
    if (!(c.req.header("accept") ?? "").includes("application/x-ndjson")) return c.json(await replay(db, policySet, opts));
    // Streamed: one `{"progress": ...}` line per page, then `{"report": ...}` (or `{"error": ...}`).
    c.header("content-type", "application/x-ndjson");
    return streamBody(c, async (stream) => {
      const lines: ReplayProgress[] = [];
      let wake: (() => void) | null = null;
      let done = false;
      const run = replay(db, policySet, {
        ...opts,
        onProgress: (p) => {
          lines.push(p);
          wake?.();
        },
      }).finally(() => {
        done = true;
        wake?.();
      });
      while (!done || lines.length) {
        if (!lines.length) await new Promise<void>((r) => (wake = r));
        wake = null;
        for (const p of lines.splice(0)) await stream.write(JSON.stringify({ progress: p }) + "\n");
      }
      try {
        await stream.write(JSON.stringify({ report: await run }) + "\n");
      } catch (e) {
        deps.logger.error({ err: (e as Error).message }, "replay failed");
        await stream.write(JSON.stringify({ error: { code: "internal", message: "replay failed; see the server's log" } }) + "\n");
      }
    });
  });

  return app;
}
