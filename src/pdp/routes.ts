/**
 * The decision endpoints (DESIGN.md "Wire contract"): `POST /v1/mcp/tools/call`,
 * `POST /v1/mcp/tools/list`, `POST /v1/authorize`, `POST /v1/authorize/batch`.
 * A deny is a 200; an answer is given only once its decision is recorded, else 503.
 *
 * Tokens (`agentToken`/`userToken` in the body, or the `X-Verdict-Agent-Token` and
 * `X-Verdict-User-Token` headers) are verified here and then dropped: they never reach the
 * evaluation, the record, a log line or an answer. A refused token is a recorded deny naming the
 * cause, not an HTTP error, so that forged and stale tokens show up in the audit trail.
 */
import { Hono, type Context } from "hono";
import {
  AGENT_TOKEN_HEADER,
  AuthorizeBatchRequest,
  AuthorizeRequest,
  ToolCallRequest,
  ToolListRequest,
  USER_TOKEN_HEADER,
} from "../contract/decision.js";
import { decideAuthorize, decideToolCall } from "./decide.js";
import type { AppDeps, AppEnv } from "../http/deps.js";
import { VerdictError } from "../http/errors.js";
import { readBody } from "../http/validate.js";
import { IdentityResolver, type IdentityClaims } from "../identity/resolve.js";
import { TokenVerifier } from "../identity/token-verifier.js";
import { filterToolList } from "./tool-list.js";
import { callerContext, endDecideSpan, startDecideSpan } from "../tracing/tracing.js";

/** The body's tokens, or the headers' (not both), and the asserted ids. */
function identityClaims(c: Context<AppEnv>, body: { agent?: string; user?: string; agentToken?: string; userToken?: string }): IdentityClaims {
  const pick = (inBody: string | undefined, header: string, field: string) => {
    const inHeader = c.req.header(header) || undefined;
    if (inBody !== undefined && inHeader !== undefined) {
      throw new VerdictError("bad_request", `give the ${field} in the body or in the ${header} header, not both`);
    }
    return inBody ?? inHeader;
  };
  const claims: IdentityClaims = {
    agent: body.agent,
    user: body.user,
    agentToken: pick(body.agentToken, AGENT_TOKEN_HEADER, "agentToken"),
    userToken: pick(body.userToken, USER_TOKEN_HEADER, "userToken"),
  };
  if (claims.agent === undefined && claims.agentToken === undefined) {
    throw new VerdictError("bad_request", "invalid body: agent: required unless an agent token is given");
  }
  return claims;
}

/** The decision endpoints, mounted by `createApp`. */
export function pdpRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? (() => new Date());
  const identity = deps.identity ?? new IdentityResolver(new TokenVerifier([]));

  app.post("/v1/mcp/tools/call", async (c) => {
    const time = now();
    const { agentToken, userToken, credential, ...body } = await readBody(c, ToolCallRequest);
    const who = await identity.resolve(identityClaims(c, { agent: body.agent, user: body.user, agentToken, userToken }));
    return c.json(await decideToolCall(deps, c, { ...body, agent: who.agent.id, user: who.user?.id }, who, time, credential === true));
  });

  app.post("/v1/mcp/tools/list", async (c) => {
    const time = now();
    const { agentToken, userToken, ...body } = await readBody(c, ToolListRequest);
    const who = await identity.resolve(identityClaims(c, { agent: body.agent, user: body.user, agentToken, userToken }));
    const ps = deps.policies.get();
    const { drifted, ...answer } = filterToolList(ps, { ...body, agent: who.agent.id, user: who.user?.id }, time, who, deps.drift?.lookup);
    // A list is not recorded, so its span carries counts and no decision id.
    const span = deps.tracer && startDecideSpan(deps.tracer, callerContext(c.req.header("traceparent"), c.req.header("tracestate")), { kind: "tools/list", agent: who.agent.id, server: body.server }, time);
    if (drifted.length && deps.drift) {
      try {
        await deps.drift.record(body.server, drifted, who.agent.id, ps.version, time);
      } catch (e) {
        if (span) endDecideSpan(span, { error: "tool drift not recorded" });
        deps.logger.error({ err: (e as Error).message }, "tool drift not recorded");
        throw new VerdictError("unavailable", "tool drift was detected but could not be recorded; the drifted tools are hidden");
      }
    }
    if (span) endDecideSpan(span, { listed: { visible: answer.tools.length, hidden: answer.hidden.length }, policySetVersion: answer.policySetVersion });
    // One decision per listed tool: shown (allow) or hidden (deny).
    const startedAt = c.get("startedAt");
    deps.metrics?.decided(
      "tools/list",
      [...answer.tools.map((t) => ({ decision: "allow" as const, server: body.server, tool: t.name })), ...answer.hidden.map((t) => ({ decision: "deny" as const, server: body.server, tool: t.name }))],
      startedAt === undefined ? undefined : (performance.now() - startedAt) / 1000,
    );
    return c.json(answer);
  });

  // `/v1/authorize` carries no tokens: when proof is required, every answer is a deny.
  app.post("/v1/authorize", async (c) => {
    const time = now();
    const body = await readBody(c, AuthorizeRequest);
    const [answer] = await decideAuthorize(deps, c, [body], time);
    return c.json(answer);
  });

  app.post("/v1/authorize/batch", async (c) => {
    const time = now();
    const body = await readBody(c, AuthorizeBatchRequest);
    return c.json({ results: await decideAuthorize(deps, c, body.requests, time) });
  });

  return app;
}
