/**
 * The fast decision path (per-action policy subsets and reduced schemas, `src/cedar/action-index.ts`)
 * must decide exactly as the plain path (the whole policy set and schema): same decision, same
 * reasons, same errors, on thousands of generated requests, including forbids, policies that
 * error at evaluation, template links, tool groups (declared in `groups.json` and derived from
 * annotations), invalid requests and actions that have no route. The exact decision cache
 * (`src/cedar/decision-cache.ts`) must answer as the uncached engine: on the generated tool
 * calls at other times and for verified identities, after a new version is activated on the
 * same cache, and when the entities change under the same engine.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateWorkload, SERVERS, writeWorkload, type Workload } from "../../tools/bench/workload.js";
import { DecisionCache } from "../../src/cedar/decision-cache.js";
import { PreparedEngine } from "../../src/cedar/engine.js";
import type { CedarRequest, EngineDecision, Entity } from "../../src/cedar/types.js";
import { ENGINE_REASONS, REASONS } from "../../src/contract/reasons.js";
import type { ResolvedIdentity } from "../../src/identity/resolve.js";
import { engineRequest, evaluateToolCall, type ToolCallQuestion } from "../../src/pdp/tool-call.js";
import { loadPolicySet } from "../../src/policy/build.js";
import { EntityStore } from "../../src/policy/entity-store.js";
import type { PolicySet } from "../../src/policy/policy-set.js";
import { ROOT } from "../helpers/app.js";

// Policies beyond the workload's, for the cases the workload does not produce: a permit and a
// forbid that error at evaluation (Long overflow; the forbid's error denies), an action literal
// in a condition (which the reduced schema must still resolve), a template, and tool groups in
// scopes and conditions: "egress" declared in groups.json (the export tools of three servers) and
// the derived "read-only", "destructive" and "open-world" (the workload annotates every tool).
const EXTRA = `
@id("no-egress-for-contractors")
forbid (principal, action in Mcp::Action::"egress", resource)
when { context.session has user && context.session.user in Mcp::Group::"contractors" };

@id("destructive-needs-task")
forbid (principal, action in Mcp::Action::"destructive", resource)
unless { context.session has task };

@id("analytics-reads")
permit (principal in Mcp::AgentGroup::"analytics-agents", action in [Mcp::Action::"read-only", Mcp::Action::"egress"], resource)
when { action in Mcp::Action::"open-world" };

@id("overflowing-read-limit")
permit (principal, action in Mcp::Action::"github", resource)
when { context.input has maxBytes && context.input.maxBytes * 1000000000000000 > 0 };

@id("overflowing-export-guard")
forbid (principal, action, resource)
when { context.input has limit && context.input.limit * 10000000000000000 > 9000000000000000000 };

@id("no-contractors-on-vault")
forbid (principal, action, resource)
when { action in Mcp::Action::"vault" && context.session has user && context.session.user in Mcp::Group::"contractors" };

@id("literal-hierarchy")
permit (principal in Mcp::AgentGroup::"support-agents", action in Mcp::Action::"slack", resource)
when { Mcp::Action::"github/read_file" in Mcp::Action::"github" && context.session has task };

@id("tpl-grant")
permit (principal == ?principal, action in [Mcp::Action::"jira", Mcp::Action::"slack"], resource == ?resource)
when { context.session has task };
`;

let dir: string;
let w: Workload;
let ps: PolicySet;
let fast: PreparedEngine;
let plain: PreparedEngine;
const now = new Date("2026-03-04T10:00:00Z");

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "verdict-fast-path-"));
  w = generateWorkload({ seed: 7, questions: 2500, extraPolicies: 300 });
  const { policyDir, schemaDir } = writeWorkload(w, dir, join(ROOT, "schema", "mcp.cedarschema"));
  writeFileSync(join(policyDir, "extra.cedar"), EXTRA);
  const egress = ["slack", "s3", "snowflake"].map((s) => `${s}/${w.catalogs[s]!.tools.find((t) => t.name.startsWith("export_"))!.name}`);
  writeFileSync(join(schemaDir, "groups.json"), JSON.stringify({ egress }));
  ps = loadPolicySet(policyDir, schemaDir);
  const links = Array.from({ length: 40 }, (_, i) => ({
    templateId: "tpl-grant",
    newId: `tpl-grant-${i}`,
    values: { "?principal": { type: "Mcp::Agent", id: `agent-${i}` }, "?resource": { type: "Mcp::Server", id: SERVERS[i % 25]! } },
  }));
  const set = { ...ps.engine.set, links };
  fast = new PreparedEngine(ps.schema, set);
  plain = new PreparedEngine(ps.schema, set, { actionIndex: false });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether one of Verdict's checks before Cedar decided (the engine's own reason codes are Cedar answers). */
const isVerdictCheck = (reasons: string[]) => reasons[0]?.startsWith("verdict:") === true && !ENGINE_REASONS.has(reasons[0]);

/** Valid tool-call requests as Verdict builds them, plus mutations that exercise every branch. */
function requests(): CedarRequest[] {
  const out: CedarRequest[] = [];
  for (const q of w.questions) {
    const e = evaluateToolCall(ps, q, now);
    if (isVerdictCheck(e.reasons)) continue;
    // the record leaves out a history no policy read; the engine takes a first call's
    out.push(engineRequest(e.request));
  }
  const base = out.slice(0, 300);
  base.forEach((r, i) => {
    const input = r.context.input as Record<string, unknown>;
    switch (i % 8) {
      case 0: // wrong type in the context: a validation error
        out.push({ ...r, context: { ...r.context, input: { ...input, path: 42 } } });
        break;
      case 1: // an action group as the action: declared, but applies to nothing
        out.push({ ...r, action: { type: "Mcp::Action", id: r.action.id.split("/")[0]! } });
        break;
      case 2: // an undeclared action: no route, the whole set decides
        out.push({ ...r, action: { type: "Mcp::Action", id: `${r.action.id}-v2` } });
        break;
      case 3: // a principal of the wrong type
        out.push({ ...r, principal: { type: "Mcp::User", id: "user-1" } });
        break;
      case 4: // the request supplies an action entity: must be checked against the whole schema
        out.push({ ...r, entities: [...r.entities, { uid: { type: "Mcp::Action", id: r.action.id }, attrs: {}, parents: [] }] });
        break;
      case 5: // an action uid inside the context
        out.push({ ...r, context: { ...r.context, input: { ...input, path: { __entity: { type: "Mcp::Action", id: "github" } } } } });
        break;
      case 6: // no entities at all: groups unknown
        out.push({ ...r, entities: [] });
        break;
      case 7: // an unknown attribute in the input
        out.push({ ...r, context: { ...r.context, input: { ...input, surprise: "x" } } });
        break;
    }
  });
  return out;
}

describe("fast path equals plain path", () => {
  it("routes most actions through their own subset", () => {
    expect(plain.indexedActions).toBe(0);
    // 200 tools, 25 server groups, call_tool, "egress" and the 3 derived groups are declared actions
    expect(fast.indexedActions).toBe(230);
  });

  it("gives the same decision, reasons and errors on thousands of generated requests", () => {
    const all = requests();
    expect(all.length).toBeGreaterThan(2000);
    const seen = { allow: 0, deny: 0, forbid: 0, forbidErrored: 0, policyErrors: 0, requestErrors: 0, template: 0, overflow: 0, literal: 0, hierarchy: 0, egress: 0, destructive: 0, groupPermit: 0 };
    const mismatches: Array<{ request: CedarRequest; fast: EngineDecision; plain: EngineDecision }> = [];
    for (const request of all) {
      const a = fast.authorize(request);
      const b = plain.authorize(request);
      if (JSON.stringify(a) !== JSON.stringify(b)) mismatches.push({ request, fast: a, plain: b });
      seen[a.decision]++;
      if (a.decision === "deny" && a.reasons.some((r) => r.startsWith("forbid-") || r === "no-contractors-on-vault")) seen.forbid++;
      if (a.reasons[0] === REASONS.forbidErrored && a.reasons.includes("overflowing-export-guard")) seen.forbidErrored++;
      if (a.errors.some((e) => e.policyId !== null)) seen.policyErrors++;
      if (a.errors.some((e) => e.policyId === null)) seen.requestErrors++;
      if (a.reasons.some((r) => r.startsWith("tpl-grant-"))) seen.template++;
      if (a.errors.some((e) => e.policyId === "overflowing-read-limit")) seen.overflow++;
      if (a.reasons.includes("no-contractors-on-vault")) seen.literal++;
      if (a.reasons.includes("literal-hierarchy")) seen.hierarchy++;
      if (a.reasons.includes("no-egress-for-contractors")) seen.egress++;
      if (a.reasons.includes("destructive-needs-task")) seen.destructive++;
      if (a.reasons.includes("analytics-reads")) seen.groupPermit++;
    }
    expect(mismatches.slice(0, 3)).toEqual([]);
    // every kind of answer occurred, so the comparison covered them
    for (const [kind, count] of Object.entries(seen)) expect(count, kind).toBeGreaterThan(0);
    // Thousands of evaluations on each path: about 20 s alone, over 60 s on a loaded 2-core
    // machine. The timeout is there to catch a hang, not slowness.
  }, 600_000);

  it("decides tool calls on lean requests as the plain path does on the full request", () => {
    const withSet = { ...ps, engine: fast };
    let lean = 0;
    const kinds = new Set<string>();
    for (const q of w.questions) {
      const e = evaluateToolCall(withSet, q, now);
      if (isVerdictCheck(e.reasons)) continue;
      const reads = fast.attributesRead(e.request.action);
      if (reads && !reads.has("paths") && (e.request.context.input as { paths?: unknown }).paths) lean++;
      kinds.add(`${e.decision}:${e.reasons.join(",")}:${e.errors.length > 0}`);
      expect({ decision: e.decision, reasons: e.reasons, errors: e.errors }).toEqual(plain.authorize(engineRequest(e.request)));
      // the record keeps every argument
      expect(e.request.context.input).toEqual(q.arguments);
    }
    expect(lean).toBeGreaterThan(100);
    expect(kinds.size).toBeGreaterThan(20);
  });

  it("knows which attributes policies read, and when they may observe a whole context", () => {
    const action = { type: "Mcp::Action", id: "github/read_file" };
    const reads = (policy: string) => new PreparedEngine(ps.schema, { policies: { p: policy } }).attributesRead(action);
    expect(reads(`permit (principal, action, resource) when { context.input.path like "/a/*" && principal has owner };`)).toEqual(new Set(["input", "path", "owner"]));
    expect(reads(`permit (principal, action, resource) when { context.input has paths.x };`)).toEqual(new Set(["input", "paths", "x"]));
    expect(reads(`permit (principal, action, resource) when { context.input == {"path": "/a"} };`)).toBeNull();
    expect(reads(`permit (principal, action, resource) when { [context].contains(context) };`)).toBeNull();
    expect(new PreparedEngine(ps.schema, { policies: {} }).attributesRead({ type: "Mcp::Action", id: "no/such-tool" })).toBeNull();
  });

  it("answers the same when called repeatedly and interleaved across actions", () => {
    const sample = requests().filter((_, i) => i % 17 === 0);
    // Plain loops: Node 20's deoptimizer crashed once while this file ran (V8 "unreachable code"
    // in DoComputeBuiltinContinuation, i.e. a deopt inside an inlined Array builtin's callback),
    // so engine calls stay out of such callbacks.
    const answers = (engine: PreparedEngine, list: CedarRequest[]) => {
      const out: string[] = [];
      for (const r of list) out.push(JSON.stringify(engine.authorize(r)));
      return out;
    };
    const first = answers(fast, sample);
    const second = answers(fast, [...sample].reverse()).reverse();
    expect(second).toEqual(first);
    expect(first).toEqual(answers(plain, sample));
  });
});

describe("the decision cache answers as the uncached engine", () => {
  // One cache for every engine below, as a server shares one between the versions it activates.
  const cache = new DecisionCache({ maxEntries: 1_000_000, maxBytes: 1024 * 2 ** 20 });
  const later = new Date("2026-03-04T10:00:01Z");
  const night = new Date("2026-03-07T23:30:00Z");
  /** A token-verified identity: the agent with an extra group, the user with one. */
  const verified = (q: ToolCallQuestion): ResolvedIdentity => ({
    agent: { id: q.agent, verified: true, groups: ["analytics-agents"] },
    user: q.user === undefined ? null : { id: q.user, verified: true, groups: ["contractors"] },
    delegation: [],
    failure: null,
  });
  const answer = (e: { decision: string; reasons: string[]; errors: unknown[]; message: string }) => JSON.stringify([e.decision, e.reasons, e.errors, e.message]);

  /**
   * Every question of `questions` at each time and identity, on `cached` and on `reference`.
   * @returns the mismatches (first few) and each cached answer, in order
   */
  function compare(cached: PolicySet, reference: PolicySet, questions: ToolCallQuestion[], times: Date[], identities: boolean[]) {
    const mismatches: Array<{ q: ToolCallQuestion; cached: string; uncached: string }> = [];
    const answers: string[] = [];
    for (const t of times) {
      for (const id of identities) {
        for (const q of questions) {
          const a = answer(evaluateToolCall(cached, q, t, id ? verified(q) : undefined));
          const b = answer(evaluateToolCall(reference, q, t, id ? verified(q) : undefined));
          if (a !== b && mismatches.length < 3) mismatches.push({ q, cached: a, uncached: b });
          answers.push(a);
        }
      }
    }
    return { mismatches, answers };
  }

  let cachedSet: PolicySet;
  let referenceSet: PolicySet;
  let sample: ToolCallQuestion[];
  let firstAnswers: string[];

  beforeAll(() => {
    const engine = new PreparedEngine(ps.schema, { ...ps.engine.set, links: fast.set.links });
    engine.useDecisionCache(cache);
    cachedSet = { ...ps, engine };
    referenceSet = { ...ps, engine: fast };
    sample = w.questions.slice(0, 600);
  });

  it("on generated tool calls, at other times of day and for verified identities", () => {
    // `now` twice: the second pass is answered from the cache. The workload's grants read
    // `requestTime` on every tool, so another second is another key; the hour and the weekday
    // are read by none.
    const { mismatches, answers } = compare(cachedSet, referenceSet, sample, [now, now, later, night], [false, true]);
    expect(mismatches).toEqual([]);
    firstAnswers = answers.slice(0, sample.length);
    expect(cache.stats.hits).toBeGreaterThan(2 * sample.length);
    expect(cache.stats.misses).toBeGreaterThan(sample.length);
    expect(cache.stats.errors).toBe(0);
    // the comparison covered allows, denies, forbids and errors
    expect(new Set(answers.map((a) => JSON.parse(a)[0])).size).toBe(2);
    expect(answers.some((a) => a.includes("forbid-"))).toBe(true);
  }, 600_000);

  it("after a new version is activated on the same cache", () => {
    const dir2 = join(dir, "v2");
    const { policyDir, schemaDir } = writeWorkload(w, dir2, join(ROOT, "schema", "mcp.cedarschema"));
    copyFileSync(join(dir, "schema", "groups.json"), join(schemaDir, "groups.json"));
    writeFileSync(join(policyDir, "extra.cedar"), EXTRA + `\n@id("v2-no-reads-on-tasks")\nforbid (principal, action in Mcp::Action::"read-only", resource) when { context.session has task };\n`);
    const v2 = loadPolicySet(policyDir, schemaDir);
    v2.engine.useDecisionCache(cache);
    const reference = { ...v2, engine: new PreparedEngine(v2.schema, v2.engine.set) };
    const hits = cache.stats.hits;
    const { mismatches, answers } = compare(v2, reference, sample, [now], [false]);
    expect(mismatches).toEqual([]);
    // v2 answers differently from v1 on some of the questions v1 has answers kept for
    expect(answers.filter((a, i) => a !== firstAnswers[i]).length).toBeGreaterThan(20);
    // and still caches for itself: asked again later the same second, v2 answers from the cache
    expect(compare(v2, reference, sample.slice(0, 50), [now], [false]).mismatches).toEqual([]);
    expect(cache.stats.hits - hits).toBeGreaterThanOrEqual(50);
  }, 600_000);

  it("when the entities change under the same engine", () => {
    // Every agent moves to the next agent group, and every user to the next user group.
    const moved = (e: Entity): Entity => ({
      ...e,
      parents: e.parents.map((p) => {
        const ring = p.type === "Mcp::AgentGroup" ? ["sre-agents", "coding-agents", "analytics-agents", "support-agents", "platform-agents"] : p.type === "Mcp::Group" ? ["sre", "developers", "data", "support", "platform", "security", "admins", "contractors"] : null;
        const at = ring ? ring.indexOf(p.id) : -1;
        return at < 0 ? p : { ...p, id: ring![(at + 1) % ring!.length]! };
      }),
    });
    const entities = new EntityStore(ps.entities.all().map(moved));
    const { mismatches, answers } = compare({ ...cachedSet, entities }, { ...referenceSet, entities }, sample, [now], [false]);
    expect(mismatches).toEqual([]);
    expect(answers.filter((a, i) => a !== firstAnswers[i]).length).toBeGreaterThan(50);
  }, 600_000);
});
