import type { Entity, EntityUid } from "../cedar/types.js";

/** `Type::"id"` form of a uid, used as a map key. */
export function uidKey(uid: EntityUid): string {
  return `${uid.type}::${JSON.stringify(uid.id)}`;
}

/**
 * The entities Verdict knows (agents, agent groups, users, groups, servers), indexed so that each
 * decision is handed only the slice it needs: the named entities and all their ancestors.
 * cedar-wasm parses every entity it is given on every call, so the slice stays small whatever
 * the size of the store.
 */
export class EntityStore {
  private readonly byKey = new Map<string, Entity>();
  private readonly closure = new Map<string, Entity[]>();

  constructor(entities: Entity[]) {
    for (const e of entities) this.byKey.set(uidKey(e.uid), e);
  }

  /** Number of entities in the store. */
  get size(): number {
    return this.byKey.size;
  }

  /** The entity with this uid, or undefined. */
  get(uid: EntityUid): Entity | undefined {
    return this.byKey.get(uidKey(uid));
  }

  /** Every entity, in insertion order. */
  all(): Entity[] {
    return [...this.byKey.values()];
  }

  /** The entity and its ancestors (transitively, each once); unknown parents are skipped. */
  private lineage(key: string): Entity[] {
    const cached = this.closure.get(key);
    if (cached) return cached;
    const out: Entity[] = [];
    const seen = new Set<string>();
    const stack = [key];
    while (stack.length) {
      const k = stack.pop()!;
      if (seen.has(k)) continue;
      seen.add(k);
      const e = this.byKey.get(k);
      if (!e) continue;
      out.push(e);
      for (const p of e.parents) stack.push(uidKey(p));
    }
    this.closure.set(key, out);
    return out;
  }

  /**
   * The slice a request needs: each given uid that is known, with its ancestors, each once.
   * @param uids principal, resource, the delegating user and any other entity the request names
   */
  slice(uids: EntityUid[]): Entity[] {
    if (uids.length === 1) return this.lineage(uidKey(uids[0]!));
    const out: Entity[] = [];
    const seen = new Set<string>();
    for (const uid of uids) {
      for (const e of this.lineage(uidKey(uid))) {
        const k = uidKey(e.uid);
        if (!seen.has(k)) {
          seen.add(k);
          out.push(e);
        }
      }
    }
    return out;
  }
}
