/**
 * The exact decision cache: the engine's answer memoised on exactly what determines it. For a
 * tool call Verdict built itself, Cedar's answer depends only on the policy set (one
 * `PreparedEngine` of `./engine.ts` per version), the request's principal, action and resource, the values
 * of the context that the applicable policies can read, and the entity slice it is handed (the
 * lean one, `src/pdp/lean-request.ts`). {@link decisionKey} is that, as text; the store is a
 * least-recently-used map bounded in entries and in bytes (`lru-cache`). The cache replaces the
 * Cedar evaluation only: every decision is still recorded before it is answered.
 *
 * Fail closed: a request that cannot be keyed is evaluated, and any error of the store is
 * counted and the request evaluated, so the cache can only ever give an answer the engine gave
 * for an identical key; answers are copied in and out, so no caller can change a kept one.
 */
import { LRUCache } from "lru-cache";
import { contextPathKey } from "./action-index.js";
import type { CedarRequest, EngineDecision, Entity } from "./types.js";

/** Bounds of a {@link DecisionCache}. */
export interface DecisionCacheOptions {
  /** Most answers kept (at least 1). */
  maxEntries: number;
  /** Most bytes kept, keys and answers together, as estimated by {@link entryBytes} (at least 1). */
  maxBytes: number;
}

/** Counters of a {@link DecisionCache}, since it was made. */
export interface DecisionCacheStats {
  /** Answers given from the cache. */
  hits: number;
  /** Requests looked up and not found (then evaluated, and their answers kept). */
  misses: number;
  /** Failures of the store or of building a key (each such request was evaluated instead). */
  errors: number;
}

/** What the cache keeps per key: the answer, frozen, and its estimated size. */
interface Kept {
  decision: EngineDecision;
  bytes: number;
}

/** Bytes of a string in memory (UTF-16), the unit of {@link entryBytes}. */
const stringBytes = (s: string): number => 2 * s.length;

/**
 * The estimated memory of one kept answer, in bytes: its key and the strings of the answer
 * (UTF-16, 2 bytes a character) plus a fixed 200 bytes for the objects around them.
 */
export function entryBytes(key: string, decision: EngineDecision): number {
  let n = 200 + stringBytes(key) + stringBytes(decision.decision);
  for (const r of decision.reasons) n += 16 + stringBytes(r);
  for (const e of decision.errors) n += 48 + stringBytes(e.message) + (e.policyId === null ? 0 : stringBytes(e.policyId));
  return n;
}

/** A copy of an answer that shares nothing with it. */
function copyOf(d: EngineDecision): EngineDecision {
  return { decision: d.decision, reasons: [...d.reasons], errors: d.errors.map((e) => ({ policyId: e.policyId, message: e.message })) };
}

/**
 * Least-recently-used answers of the engine by {@link decisionKey}, bounded in entries and bytes.
 * One cache may serve several engines (one per policy-set version): each engine's keys begin with
 * its own scope, so no answer is shared between versions.
 */
export class DecisionCache {
  private readonly lru: LRUCache<string, Kept>;
  readonly stats: DecisionCacheStats = { hits: 0, misses: 0, errors: 0 };

  /** @throws RangeError when a bound is not a positive integer */
  constructor(readonly options: DecisionCacheOptions) {
    for (const [name, v] of Object.entries(options)) if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`decision cache: ${name} must be a positive integer, got ${v}`);
    this.lru = new LRUCache<string, Kept>({ max: options.maxEntries, maxSize: options.maxBytes, sizeCalculation: (k) => k.bytes });
  }

  /** Answers kept now. */
  get size(): number {
    return this.lru.size;
  }

  /** Estimated bytes kept now ({@link entryBytes}). */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  /**
   * The answer kept for `key`, as a copy; undefined when none is (counted as a miss), or when
   * the store fails (counted as an error: the caller evaluates).
   */
  get(key: string): EngineDecision | undefined {
    try {
      const kept = this.lru.get(key);
      if (kept === undefined) {
        this.stats.misses++;
        return undefined;
      }
      this.stats.hits++;
      return copyOf(kept.decision);
    } catch {
      this.stats.errors++;
      return undefined;
    }
  }

  /** Keeps a copy of `decision` for `key`; an answer larger than the byte bound is not kept. Never throws. */
  set(key: string, decision: EngineDecision): void {
    try {
      const kept = copyOf(decision);
      Object.freeze(kept.reasons);
      for (const e of kept.errors) Object.freeze(e);
      Object.freeze(kept.errors);
      const bytes = entryBytes(key, kept);
      if (bytes <= this.options.maxBytes) this.lru.set(key, { decision: Object.freeze(kept), bytes });
    } catch {
      this.stats.errors++;
    }
  }

  /** Counts a request that could not be keyed (it was evaluated). */
  failed(): void {
    this.stats.errors++;
  }

  /** Forgets every kept answer (the counters stay). */
  clear(): void {
    this.lru.clear();
  }
}

/** What the applicable policies of one action can read (`./action-index.ts`). */
export interface ReadPlan {
  /** Attribute names read by `.name` or `has name` (`attributesRead`). */
  reads: ReadonlySet<string>;
  /** Context paths some policy may observe as a whole (`contextValuesObserved`). */
  observed: ReadonlySet<string>;
}

const MAX_DEPTH = 32;
/** A UTF-16 surrogate without its pair (in a `u` regex, a well-formed pair is one code point, not `Cs`). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Whether leaving `value` out of a request could change no answer of a policy that never reads
 * it: a value that cannot make the engine fail by itself (a Bool, a Long within ±2^53, a
 * well-formed string, an entity uid, and sets and records of those). An extension value
 * (`decimal`, `ipaddr`, ...) is not: its text may not parse, and a request that fails must
 * not get the answer of one that did not.
 */
function harmless(value: unknown, depth = 0): boolean {
  if (depth > MAX_DEPTH) return false;
  switch (typeof value) {
    case "boolean":
      return true;
    case "number":
      return Number.isSafeInteger(value);
    case "string":
      return !LONE_SURROGATE.test(value);
    case "object": {
      if (value === null) return false;
      if (Array.isArray(value)) return value.every((v) => harmless(v, depth + 1));
      const obj = value as Record<string, unknown>;
      if ("__extn" in obj) return false;
      for (const k of Object.keys(obj)) if (!harmless(obj[k], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

/** A Cedar record value (not a set, an entity uid or an extension value). */
function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !("__entity" in value) && !("__extn" in value);
}

/**
 * The context as the key sees it: inside every record that no policy observes as a whole, the
 * attributes whose name no policy reads are left out when they are {@link harmless}; the others
 * are kept exactly.
 */
function keyView(value: unknown, path: string, depth: number, plan: ReadPlan): unknown {
  if (!isRecord(value) || plan.observed.has(path) || depth > MAX_DEPTH) return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) {
    const v = value[k];
    // `path` + `\0name` is `contextPathKey` of the longer path
    if (plan.reads.has(k)) out[k] = keyView(v, `${path}\0${k}`, depth + 1, plan);
    else if (!harmless(v)) out[k] = v;
  }
  return out;
}

const entityText = new WeakMap<Entity, string>();

/** An entity as JSON text, memoised per entity object (the store's entities are built once per version and never changed). */
function textOf(e: Entity): string {
  let text = entityText.get(e);
  if (text === undefined) entityText.set(e, (text = JSON.stringify(e)));
  return text;
}

/**
 * The cache key of a request: `scope` (the engine, so one policy-set version), the principal,
 * action and resource, the context without what no applicable policy can read (attributes whose
 * name no policy reads, in records no policy observes whole, among them `context.session`'s
 * time fields when no policy reads them), and the entities exactly as given, in order, one JSON
 * text a line (JSON text holds no raw newline, so the parts cannot run into each other).
 *
 * Sound only for a request valid for the schema by construction (what Verdict builds for a tool
 * call: arguments converted from the pinned inputSchema, the session Verdict's own, entities
 * validated at load): a left-out attribute could otherwise still fail validation. Requests that
 * differ only in left-out attributes share a key; any other difference gives another key, even
 * the order of a record's attributes (a miss, never another request's answer).
 * @param request the request as the engine is handed it (the lean one)
 * @param plan what the policies of the request's action read; the caller must know that none
 *   of them observes `context` or `context.input` as a whole (`attributesRead` gave a set)
 * @throws TypeError when the request holds a value JSON cannot write (a cyclic structure, a BigInt)
 */
export function decisionKey(scope: string, request: CedarRequest, plan: ReadPlan): string {
  const head = `${scope}\n${JSON.stringify(request.principal)}\n${JSON.stringify(request.action)}\n${JSON.stringify(request.resource)}\n${JSON.stringify(keyView(request.context, contextPathKey([]), 0, plan))}`;
  let out = head;
  for (const e of request.entities) out += "\n" + textOf(e);
  return out;
}
