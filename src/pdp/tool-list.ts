/**
 * `POST /v1/mcp/tools/list`: which of a server's tools an agent may see. A tool is visible when
 * some arguments could be allowed: Cedar partial evaluation with `context.input` unknown, so
 * listing agrees with calling. Tools that are not pinned, or whose definition differs from the
 * pinned one (tool drift), are hidden whatever the policies say. A tool one of whose forbids
 * errors for any arguments is hidden (`verdict:forbid-errored`): every call of it is denied.
 * Task memory is not read for a list: when a policy reads `context.session.history`, the history
 * is unknown too, so a tool is visible when some history could allow it.
 */
import type { CedarRequest, Entity } from "../cedar/types.js";
import { REASONS } from "../contract/reasons.js";
import { toolDefinitionHash } from "../catalog/tool-schema.js";
import { identityEntities } from "../identity/entities.js";
import type { ResolvedIdentity } from "../identity/resolve.js";
import type { PolicySet } from "../policy/policy-set.js";
import { checkParties, checkServer } from "./checks.js";
import { EMPTY_HISTORY, readsHistory } from "./history.js";
import { requestUids, sessionContext, verifiedOf, type DriftLookup } from "./tool-call.js";

/** `context.session.history` as a Cedar unknown, for partial evaluation. */
const UNKNOWN_HISTORY = { __extn: { fn: "unknown", arg: "history" } };

/** The question: the tools a server reported, for an agent (acting for a user, on a task). */
export interface ToolListQuestion {
  agent: string;
  user?: string;
  server: string;
  task?: { id: string; kind?: string };
  client?: string;
  tools: Array<Record<string, unknown> & { name: string }>;
}

/** Visible tools (as given) and hidden ones with the reason. */
export interface ToolListAnswer {
  tools: Array<Record<string, unknown> & { name: string }>;
  hidden: Array<{ name: string; reason: string }>;
  policySetVersion: string;
}

/** A tool whose reported definition differs from the pinned one (not part of the wire answer). */
export interface DriftReport {
  tool: Record<string, unknown> & { name: string };
  pinnedHash: string;
  reportedHash: string;
}

/**
 * Filters a `tools/list` result. Never throws; an engine failure hides the tool, and an identity
 * failure (a refused token, a required proof missing) hides every tool, naming the cause.
 * @param now the instant of the request, for `context.session`
 * @param identity how `q.agent` and `q.user` were identified; absent: both asserted
 * @param drift open tool drift (reported by any gateway): such tools stay hidden until re-pinned
 * @returns the answer, and the drift this list shows, for the caller to record
 */
export function filterToolList(
  ps: PolicySet,
  q: ToolListQuestion,
  now: Date,
  identity?: ResolvedIdentity,
  drift?: DriftLookup,
): ToolListAnswer & { drifted: DriftReport[] } {
  const out: ToolListAnswer & { drifted: DriftReport[] } = { tools: [], hidden: [], policySetVersion: ps.version, drifted: [] };
  const hideAll = (reason: string) => {
    out.hidden = q.tools.map((t) => ({ name: t.name, reason }));
    return out;
  };
  // The checks tools/call makes on the parties and the server (src/pdp/checks.ts).
  if (identity?.failure) return hideAll(`${identity.failure.reason}: ${identity.failure.message}`);
  const refused = checkParties(ps, q, identity) ?? checkServer(ps, q.server);
  if (refused) return hideAll(refused.message);

  const slice = identityEntities(ps.entities, requestUids(q), identity);
  const session = sessionContext(q, now, verifiedOf(identity));
  for (const tool of q.tools) {
    const actionId = `${q.server}/${tool.name}`;
    const pinned = ps.tools.get(actionId);
    if (!pinned) {
      out.hidden.push({ name: tool.name, reason: `not in the pinned catalog of server ${JSON.stringify(q.server)}` });
      continue;
    }
    const reported = toolDefinitionHash(tool);
    if (reported !== pinned.definitionHash) {
      out.hidden.push({ name: tool.name, reason: `definition differs from the pinned one (pinned ${pinned.definitionHash}, reported ${reported})` });
      out.drifted.push({ tool, pinnedHash: pinned.definitionHash, reportedHash: reported });
      continue;
    }
    const open = drift?.(actionId, pinned.definitionHash);
    if (open) {
      out.hidden.push({ name: tool.name, reason: `definition drift is open (pinned ${pinned.definitionHash}, reported ${open}); hidden until re-pinned` });
      continue;
    }
    const actionEntities: Entity[] = [];
    const action = ps.actionEntities.get(actionId);
    if (action) {
      actionEntities.push(action);
      for (const p of action.parents) {
        const parent = ps.actionEntities.get(p.id);
        if (parent) actionEntities.push(parent);
      }
    }
    const request: CedarRequest = {
      principal: { type: "Mcp::Agent", id: q.agent },
      action: { type: "Mcp::Action", id: actionId },
      resource: { type: "Mcp::Server", id: q.server },
      // The task's history is not read for a list: like the arguments, it is unknown when some
      // policy reads it (visible when some history could allow the call), else a first call's.
      context: { input: { __extn: { fn: "unknown", arg: "input" } }, session: { ...session, history: readsHistory(ps, actionId) ? UNKNOWN_HISTORY : { ...EMPTY_HISTORY, actions: [] } } },
      entities: [...slice, ...actionEntities],
    };
    const answer = ps.engine.authorizePartial(request);
    if (answer.decision === "deny") {
      const [code, ...ids] = answer.reasons;
      const why =
        code === REASONS.forbidErrored
          ? `${REASONS.forbidErrored}: forbid ${ids.join(", ")} errors for any arguments, and a forbid that errors denies (fail closed)`
          : code === REASONS.noPermit
            ? "no policy permits it for any arguments"
            : code === REASONS.evaluationFailed || code === undefined
              ? `evaluation failed: ${answer.errors.map((e) => e.message).join("; ")}`
              : `denied for any arguments by ${answer.reasons.join(", ")}`;
      out.hidden.push({ name: tool.name, reason: why });
    } else {
      out.tools.push(tool);
    }
  }
  return out;
}
