/**
 * Request fixtures for a policy set: policies are data with their own tests (the layout of
 * cedar-policy/cedar-examples). Beside the policies, `ALLOW/*.json` and `DENY/*.json` each hold
 * one `POST /v1/mcp/tools/call` body and the decision it must get (and, optionally, `history`:
 * the task memory the call sees, `context.session.history`; fields left out are a first call's):
 *
 * ```json
 * { "description": "why this case matters",
 *   "call": { "agent": "incident-bot", "server": "filesystem", "tool": "read_file",
 *             "arguments": { "path": "/srv/runbooks/db.md" } },
 *   "reasons": ["allow-file-reads"] }
 * ```
 *
 * The folder gives the expected decision; `reasons`, when present, lists the expected reasons
 * as the endpoint gives them (compared as a set): determining policy ids, Verdict's checks
 * (`verdict:unknown-agent`, `verdict:arguments-invalid`, ...) and the engine's codes
 * (`["verdict:no-permit"]` for the default deny, `["verdict:forbid-errored", "<forbid id>"]`
 * for a deny made because a forbid errored). `[]`, the spelling of the default deny before
 * `verdict:no-permit` existed, is read as `["verdict:no-permit"]`. A fixture is evaluated
 * exactly as the endpoint evaluates a call (the fail-closed rule of `src/cedar/engine.ts`
 * included), but nothing is recorded. `verdict test` and the test suite both run fixtures
 * through this module.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { ToolCallRequest } from "../contract/decision.js";
import { REASONS } from "../contract/reasons.js";
import { parseStrictJson } from "../http/json.js";
import { EMPTY_HISTORY } from "../pdp/history.js";
import { evaluateToolCall } from "../pdp/tool-call.js";
import type { PolicySet } from "./policy-set.js";

/** The two fixture folders and the decision each one expects. */
export const FIXTURE_FOLDERS = { ALLOW: "allow", DENY: "deny" } as const;

/** A fixture's call: a `tools/call` body with an asserted agent (fixtures carry no tokens). */
const FixtureCall = z.strictObject({
  ...ToolCallRequest.omit({ agentToken: true, userToken: true, credential: true }).shape,
  agent: z.string().min(1),
});

const FixtureFile = z.strictObject({
  description: z.string().min(1),
  // Strict, unlike the endpoint: a misspelt key in a fixture must fail loudly, not be dropped.
  call: FixtureCall,
  reasons: z.array(z.string().min(1)).optional(),
  /**
   * The task memory the call sees (`context.session.history`, docs/task-memory.md); fields left
   * out are a first call's (0, no actions). Fixtures read no decision log.
   */
  history: z
    .strictObject({
      calls: z.number().int().min(0).optional(),
      toolCalls: z.number().int().min(0).optional(),
      actions: z.array(z.string()).optional(),
      agentToolCallsLastHour: z.number().int().min(0).optional(),
      userToolCallsLastHour: z.number().int().min(0).optional(),
    })
    .optional(),
});

/** One request fixture, as loaded from `<dir>/ALLOW/<name>.json` or `<dir>/DENY/<name>.json`. */
export interface PolicyFixture {
  /** The file name without `.json`. */
  name: string;
  /** Path of the file, as given to {@link loadFixtures} joined with the folder and file name. */
  file: string;
  description: string;
  /** The decision the folder demands. */
  decision: "allow" | "deny";
  /** The `POST /v1/mcp/tools/call` body, validated by the wire contract. */
  call: z.output<typeof FixtureCall>;
  /** The history the call sees (fields left out: a first call's). */
  history?: z.output<typeof FixtureFile>["history"];
  /** Expected reasons (as a set; `[]` in a file is read as `["verdict:no-permit"]`), or undefined when the fixture does not say. */
  reasons?: string[];
}

/** A fixture file cannot be read or does not have the fixture shape; the message names the file. */
export class FixtureError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "FixtureError";
  }
}

/**
 * Loads every fixture of a policy directory: `<dir>/ALLOW/*.json` and `<dir>/DENY/*.json`,
 * in folder then file-name order. Missing folders contribute nothing.
 * @param dir the policy directory (e.g. `./policies`)
 * @throws FixtureError naming the first file that is not valid JSON or not a fixture
 */
export function loadFixtures(dir: string): PolicyFixture[] {
  const out: PolicyFixture[] = [];
  for (const [folder, decision] of Object.entries(FIXTURE_FOLDERS)) {
    const sub = join(dir, folder);
    let names: string[];
    try {
      if (!statSync(sub).isDirectory()) continue;
      names = readdirSync(sub).filter((n) => n.endsWith(".json")).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const file = join(sub, name);
      let json: unknown;
      try {
        json = parseStrictJson(readFileSync(file, "utf8"));
      } catch (e) {
        throw new FixtureError(file, (e as Error).message);
      }
      const parsed = FixtureFile.safeParse(json);
      if (!parsed.success) {
        throw new FixtureError(file, parsed.error.issues.map((i) => `${i.path.join(".") || "fixture"}: ${i.message}`).join("; "));
      }
      out.push({
        name: name.replace(/\.json$/, ""),
        file,
        description: parsed.data.description,
        decision,
        call: parsed.data.call,
        // `[]` was how a fixture said "the default deny" before the engine named it.
        reasons: parsed.data.reasons?.length === 0 ? [REASONS.noPermit] : parsed.data.reasons,
        ...(parsed.data.history ? { history: parsed.data.history } : {}),
      });
    }
  }
  return out;
}

/** What a fixture got, compared with what it expected. */
export interface FixtureResult {
  fixture: PolicyFixture;
  passed: boolean;
  expected: { decision: "allow" | "deny"; reasons?: string[] };
  actual: { decision: "allow" | "deny"; reasons: string[]; errors: string[]; message: string };
  /** Why the fixture failed, one line each; empty when it passed. */
  problems: string[];
}

const sameSet = (a: string[], b: string[]) => {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

/**
 * Evaluates each fixture against a policy set and compares the decision (and, when the fixture
 * gives them, the determining policies) with what it expects. Pure: nothing is recorded.
 * @param policySet the set under test (e.g. from `loadPolicySet`)
 * @param fixtures from {@link loadFixtures}
 * @param now the instant the calls are evaluated at (`context.session.requestTime` and friends)
 * @returns one result per fixture, in the given order
 */
export function runFixtures(policySet: PolicySet, fixtures: PolicyFixture[], now: Date = new Date()): FixtureResult[] {
  return fixtures.map((fixture) => {
    const e = evaluateToolCall(policySet, fixture.call, now, undefined, undefined, { ...EMPTY_HISTORY, ...fixture.history, actions: [...(fixture.history?.actions ?? [])].sort() });
    const problems: string[] = [];
    if (e.decision !== fixture.decision) problems.push(`expected ${fixture.decision}, got ${e.decision} (${e.message})`);
    if (fixture.reasons && !sameSet(fixture.reasons, e.reasons)) {
      problems.push(`expected reasons [${fixture.reasons.join(", ")}], got [${e.reasons.join(", ")}]`);
    }
    return {
      fixture,
      passed: problems.length === 0,
      expected: { decision: fixture.decision, ...(fixture.reasons ? { reasons: fixture.reasons } : {}) },
      actual: { decision: e.decision, reasons: e.reasons, errors: e.errors.map((x) => x.message), message: e.message },
      problems,
    };
  });
}
