import type { Entity, EntityUid } from "../cedar/types.js";
import type { EntityStore } from "../policy/entity-store.js";
import { uidKey } from "../policy/entity-store.js";
import type { ResolvedIdentity } from "./resolve.js";

/**
 * The entity slice of a request whose parties may be proven by tokens. A verified agent or user
 * is an entity even when `entities.json` does not list it (its issuer vouches for it), with the
 * groups its token grants added to its parents (`Mcp::AgentGroup` for an agent, `Mcp::Group` for
 * a user) next to the ones the store gives it; the store's ancestors of those groups come along.
 * @param uids the request's uids (principal, resource, user), as for `EntityStore.slice`
 */
export function identityEntities(store: EntityStore, uids: EntityUid[], identity: ResolvedIdentity | undefined): Entity[] {
  const parties: Array<{ uid: EntityUid; groups: EntityUid[] }> = [];
  if (identity?.agent.verified) {
    parties.push({ uid: { type: "Mcp::Agent", id: identity.agent.id }, groups: identity.agent.groups.map((id) => ({ type: "Mcp::AgentGroup", id })) });
  }
  if (identity?.user?.verified) {
    parties.push({ uid: { type: "Mcp::User", id: identity.user.id }, groups: identity.user.groups.map((id) => ({ type: "Mcp::Group", id })) });
  }
  if (!parties.length) return store.slice(uids);
  const slice = [...store.slice([...uids, ...parties.flatMap((p) => p.groups)])];
  for (const p of parties) {
    const key = uidKey(p.uid);
    const at = slice.findIndex((e) => uidKey(e.uid) === key);
    const known = at >= 0 ? slice[at]! : { uid: p.uid, attrs: {}, parents: [] };
    const parents = [...known.parents];
    for (const g of p.groups) if (!parents.some((q) => uidKey(q) === uidKey(g))) parents.push(g);
    const merged: Entity = { ...known, parents };
    if (at >= 0) slice[at] = merged;
    else slice.push(merged);
  }
  return slice;
}
