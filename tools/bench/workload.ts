/**
 * The benchmark's generated workload: 25 MCP servers with 8 tools each (200 tools), 60 agents in
 * agent groups, 120 users in groups, about 60 Cedar policies (permits per server, guardrail
 * forbids, action groups), and tool calls with about 1 KB of arguments. The same rules are also
 * written as Cerbos policies (resource policies per server, derived roles for user groups), so
 * both engines answer the same questions. Everything is drawn from a seeded generator, so a run
 * is reproducible.
 *
 * Two streams of questions over the same rules: {@link generateWorkload}'s own (`distinct: true`
 * makes no two alike: the `all-distinct` workload of `npm run bench`), and
 * {@link taskShapedQuestions}, calls as agents working on tasks make them (`task-shaped`).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ToolCallQuestion } from "../../src/pdp/tool-call.js";

/** A tool call question as sent to `POST /v1/mcp/tools/call`. */
export type Question = ToolCallQuestion;

/** Options of {@link generateWorkload}. */
export interface WorkloadOptions {
  seed?: number;
  /** Extra per-agent grants on top of the ~60 base policies (to grow the set to 1,000 or 10,000). */
  extraPolicies?: number;
  /** Extra users beyond the 120 (to grow the entity store). */
  extraUsers?: number;
  /** How many questions to generate. */
  questions?: number;
  /**
   * No two questions with the same agent, user (or none), server and tool, so no two requests
   * are alike for the engine (its principal, action and entity slice differ). Default false.
   */
  distinct?: boolean;
}

/** A generated workload: Verdict's sources and the matching Cerbos policies. */
export interface Workload {
  catalogs: Record<string, { tools: Array<Record<string, unknown> & { name: string }> }>;
  /** Cedar policy files by name. */
  policies: Record<string, string>;
  entities: Array<{ uid: { type: string; id: string }; attrs: Record<string, unknown>; parents: Array<{ type: string; id: string }> }>;
  questions: Question[];
  /** Cerbos policy files (YAML) by name. */
  cerbos: Record<string, string>;
  /** Agent id to its agent groups, and user id to its groups (what a Cerbos caller must send). */
  agentGroups: Map<string, string[]>;
  userGroups: Map<string, string[]>;
  policyCount: number;
}

/** Mulberry32: a small seeded PRNG, so every run draws the same workload. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const SERVERS = [
  "github", "gitlab", "jira", "confluence", "slack", "pagerduty", "datadog", "grafana", "postgres", "snowflake",
  "s3", "gcs", "kubernetes", "terraform", "vault", "salesforce", "zendesk", "hubspot", "stripe", "notion",
  "linear", "sentry", "elastic", "redis", "airflow",
];
const KINDS = ["read", "list", "search", "get", "create", "update", "delete", "export"] as const;
type Kind = (typeof KINDS)[number];
const NOUNS = ["file", "issue", "record", "document", "item", "object", "entry", "resource"];
const AGENT_GROUPS = ["sre-agents", "coding-agents", "analytics-agents", "support-agents", "platform-agents", "quarantine"];
const USER_GROUPS = ["sre", "developers", "data", "support", "platform", "security", "admins", "contractors"];
const TASK_KINDS = ["incident", "change", "ticket", "analysis"];

const str = (extra: Record<string, unknown> = {}) => ({ type: "string", ...extra });
function inputSchema(kind: Kind): Record<string, unknown> {
  const common = { type: "object", additionalProperties: false };
  switch (kind) {
    case "read":
    case "get":
      return { ...common, properties: { path: str(), paths: { type: "array", items: str() }, ref: str(), maxBytes: { type: "integer" } }, required: ["path"] };
    case "list":
    case "search":
      return {
        ...common,
        properties: {
          query: str(),
          limit: { type: "integer" },
          filters: { type: "object", additionalProperties: false, properties: { labels: { type: "array", items: str() }, since: str(), owner: str() } },
        },
        required: ["query"],
      };
    case "create":
    case "update":
      return {
        ...common,
        properties: {
          path: str(),
          content: str(),
          message: str(),
          tags: { type: "array", items: str() },
          options: { type: "object", additionalProperties: false, properties: { overwrite: { type: "boolean" }, dryRun: { type: "boolean" } } },
        },
        required: ["path", "content"],
      };
    case "delete":
      return { ...common, properties: { path: str(), reason: str(), recursive: { type: "boolean" } }, required: ["path", "reason"] };
    case "export":
      return { ...common, properties: { query: str(), format: str(), limit: { type: "integer" }, columns: { type: "array", items: str() } }, required: ["query", "format", "limit"] };
  }
}

// Who owns what: each server has an owning user group and two agent groups that may read it.
const owner = (s: number) => USER_GROUPS[s % 6]!;
const readers = (s: number) => [AGENT_GROUPS[s % 5]!, AGENT_GROUPS[(s + 2) % 5]!];
const writer = (s: number) => AGENT_GROUPS[(s + 1) % 5]!;
/** The agent of the tasks on server `s` (task-shaped workload): in a group that reads it and in the one that writes it. */
const taskAgent = (s: number) => `task-agent-${s}`;

const toolName = (kind: Kind, i: number) => `${kind}_${NOUNS[i % NOUNS.length]}${kind === "list" || kind === "search" || kind === "export" ? "s" : ""}`;
const action = (server: string, tool: string) => `Mcp::Action::${JSON.stringify(`${server}/${tool}`)}`;
const quoteList = (items: string[]) => items.map((s) => JSON.stringify(s)).join(", ");

/**
 * Generates the workload.
 * @returns sources for Verdict, the equivalent Cerbos policies and the questions to ask both
 */
export function generateWorkload(opts: WorkloadOptions = {}): Workload {
  const rand = rng(opts.seed ?? 42);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const words = "the deploy failed after the migration ran twice so we rolled back and paged the on call engineer who found a lock held by the nightly export job".split(" ");
  const sentence = (n: number) => Array.from({ length: n }, () => pick(words)).join(" ");

  const catalogs: Workload["catalogs"] = {};
  const toolsOf = new Map<string, Map<Kind, string>>();
  SERVERS.forEach((server, s) => {
    const byKind = new Map<Kind, string>();
    catalogs[server] = {
      tools: KINDS.map((kind) => {
        const name = toolName(kind, s + KINDS.indexOf(kind));
        byKind.set(kind, name);
        return {
          name,
          description: `${kind} ${NOUNS[(s + KINDS.indexOf(kind)) % NOUNS.length]} on ${server}`,
          inputSchema: inputSchema(kind),
          annotations: { readOnlyHint: ["read", "list", "search", "get", "export"].includes(kind), destructiveHint: kind === "delete" },
        };
      }),
    };
    toolsOf.set(server, byKind);
  });
  const actionsOf = (kinds: Kind[], servers = SERVERS) => servers.flatMap((s) => kinds.map((k) => action(s, toolsOf.get(s)!.get(k)!)));

  const agentGroups = new Map<string, string[]>();
  const userGroups = new Map<string, string[]>();
  const entities: Workload["entities"] = [];
  for (const g of AGENT_GROUPS) entities.push({ uid: { type: "Mcp::AgentGroup", id: g }, attrs: {}, parents: [] });
  for (const g of USER_GROUPS) entities.push({ uid: { type: "Mcp::Group", id: g }, attrs: {}, parents: [] });
  for (let i = 0; i < 60; i++) {
    const groups = i < 2 ? ["quarantine", AGENT_GROUPS[i]!] : [AGENT_GROUPS[i % 5]!];
    agentGroups.set(`agent-${i}`, groups);
    entities.push({
      uid: { type: "Mcp::Agent", id: `agent-${i}` },
      attrs: { displayName: `Agent ${i}`, owner: pick(USER_GROUPS), environment: i % 3 === 0 ? "development" : "production" },
      parents: groups.map((id) => ({ type: "Mcp::AgentGroup", id })),
    });
  }
  // One task agent per server (no draw from the generator, so the other entities and the
  // questions are those of a workload without them).
  SERVERS.forEach((_, s) => {
    const groups = [readers(s)[0]!, writer(s)];
    agentGroups.set(taskAgent(s), groups);
    entities.push({ uid: { type: "Mcp::Agent", id: taskAgent(s) }, attrs: { displayName: `Task agent ${s}`, owner: owner(s), environment: "production" }, parents: groups.map((id) => ({ type: "Mcp::AgentGroup", id })) });
  });
  const users = 120 + (opts.extraUsers ?? 0);
  for (let i = 0; i < users; i++) {
    const groups = [USER_GROUPS[i % 8]!];
    if (i % 5 === 0) groups.push(USER_GROUPS[(i + 3) % 8]!);
    if (i < 120) userGroups.set(`user-${i}`, groups);
    entities.push({
      uid: { type: "Mcp::User", id: `user-${i}` },
      attrs: { email: `user-${i}@acme.example`, department: groups[0]! },
      parents: groups.map((id) => ({ type: "Mcp::Group", id })),
    });
  }
  SERVERS.forEach((server, s) =>
    entities.push({ uid: { type: "Mcp::Server", id: server }, attrs: { environment: "production", owner: owner(s) }, parents: [] }),
  );

  // Cedar policies, and the same rules as Cerbos rules per server.
  const cedarPolicies: string[] = [];
  const cerbosRules = new Map<string, string[]>(SERVERS.map((s) => [s, []]));
  const rule = (server: string, actions: string[], effect: "ALLOW" | "DENY", roles: { roles?: string[]; derived?: string[] }, condition?: string) =>
    cerbosRules.get(server)!.push(
      [
        `    - actions: [${quoteList(actions)}]`,
        `      effect: EFFECT_${effect}`,
        roles.roles ? `      roles: [${quoteList(roles.roles)}]` : `      derivedRoles: [${quoteList(roles.derived!)}]`,
        ...(condition ? [`      condition:`, `        match:`, `          expr: ${JSON.stringify(condition)}`] : []),
      ].join("\n"),
    );

  SERVERS.forEach((server, s) => {
    const t = toolsOf.get(server)!;
    const reads = (["read", "list", "search", "get"] as Kind[]).map((k) => t.get(k)!);
    cedarPolicies.push(`@id("${server}-reads")
permit (
  principal,
  action in [${reads.map((n) => action(server, n)).join(", ")}],
  resource == Mcp::Server::"${server}"
)
when { principal in [${readers(s).map((g) => `Mcp::AgentGroup::"${g}"`).join(", ")}] };`);
    rule(server, reads, "ALLOW", { roles: readers(s) });

    const writes = (["create", "update"] as Kind[]).map((k) => t.get(k)!);
    cedarPolicies.push(`@id("${server}-writes")
permit (
  principal in Mcp::AgentGroup::"${writer(s)}",
  action in [${writes.map((n) => action(server, n)).join(", ")}],
  resource == Mcp::Server::"${server}"
)
when {
  context.session has user &&
  context.session.user in Mcp::Group::"${owner(s)}" &&
  context.session has task &&
  context.input.path like "/${server}/work/*"
};`);
    rule(server, writes, "ALLOW", { derived: [`${writer(s)}-for-${owner(s)}`] }, `has(P.attr.task) && R.attr.input.path.startsWith("/${server}/work/")`);
  });

  const allServerActions = SERVERS.slice(0, 5).map((s) => `Mcp::Action::"${s}"`);
  cedarPolicies.push(`@id("platform-operates-core")
permit (
  principal in Mcp::AgentGroup::"platform-agents",
  action in [${allServerActions.join(", ")}],
  resource
)
when { context.session has user && context.session.user in Mcp::Group::"platform" };`);
  for (const server of SERVERS.slice(0, 5)) {
    rule(server, KINDS.map((k) => toolsOf.get(server)!.get(k)!), "ALLOW", { derived: ["platform-agents-for-platform"] });
  }

  cedarPolicies.push(`@id("analytics-exports")
permit (
  principal in Mcp::AgentGroup::"analytics-agents",
  action in [${actionsOf(["export"]).join(", ")}],
  resource
)
when { context.input.limit <= 10000 };`);
  for (const server of SERVERS) rule(server, [toolsOf.get(server)!.get("export")!], "ALLOW", { roles: ["analytics-agents"] }, "R.attr.input.limit <= 10000");

  cedarPolicies.push(`@id("admins-delete")
permit (
  principal in Mcp::AgentGroup::"sre-agents",
  action in [${actionsOf(["delete"]).join(", ")}],
  resource
)
when { context.session has user && context.session.user in Mcp::Group::"admins" && context.session has task };`);
  for (const server of SERVERS) rule(server, [toolsOf.get(server)!.get("delete")!], "ALLOW", { derived: ["sre-agents-for-admins"] }, "has(P.attr.task)");

  // Guardrails (forbids), replicated into every Cerbos resource policy as deny rules.
  const guard = (id: string, kinds: Kind[] | "all", cedarCond: string, cerbosCond: string | null, derived?: string) => {
    cedarPolicies.push(`@id("${id}")
forbid (principal, ${kinds === "all" ? "action" : `action in [${actionsOf(kinds).join(", ")}]`}, resource)
${cedarCond};`);
    for (const server of SERVERS) {
      const acts = kinds === "all" ? ["*"] : kinds.map((k) => toolsOf.get(server)!.get(k)!);
      rule(server, acts, "DENY", derived ? { derived: [derived] } : { roles: ["*"] }, cerbosCond ?? undefined);
    }
  };
  guard("forbid-path-traversal", ["read", "get", "create", "update", "delete"], `when { context.input.path like "*..*" }`, `R.attr.input.path.contains("..")`);
  guard("forbid-contractor-writes", ["create", "update", "delete"], `when { context.session has user && context.session.user in Mcp::Group::"contractors" }`, null, "any-for-contractors");
  guard("forbid-huge-exports", ["export"], `when { context.input.limit > 5000 }`, `R.attr.input.limit > 5000`);
  guard("forbid-quarantined-agents", "all", `when { principal in Mcp::AgentGroup::"quarantine" }`, `"quarantine" in P.roles`);
  guard("forbid-secrets-in-content", ["create", "update"], `when { context.input.content like "*BEGIN PRIVATE KEY*" }`, `R.attr.input.content.contains("BEGIN PRIVATE KEY")`);
  guard("forbid-recursive-deletes", ["delete"], `when { context.input has recursive && context.input.recursive }`, `has(R.attr.input.recursive) && R.attr.input.recursive`);

  // Extra grants (to grow the set): one agent may call one tool on tasks of one kind.
  for (let i = 0; i < (opts.extraPolicies ?? 0); i++) {
    const s = i % SERVERS.length;
    const server = SERVERS[s]!;
    const kind = KINDS[Math.floor(i / SERVERS.length) % KINDS.length]!;
    const tool = toolsOf.get(server)!.get(kind)!;
    cedarPolicies.push(`@id("grant-${i}")
permit (principal == Mcp::Agent::"agent-${(i * 7) % 60}", action == ${action(server, tool)}, resource == Mcp::Server::"${server}")
when { context.session has task && context.session.task has kind && context.session.task.kind == "${TASK_KINDS[i % 4]}" && context.session.requestTime > ${i} };`);
  }

  // Derived roles: an agent group acting for a user of a group (Cerbos has no entity store, so
  // the caller passes the user's groups as principal attributes).
  const derived = new Set<string>(["any-for-contractors"]);
  for (const rules of cerbosRules.values()) for (const r of rules) for (const m of r.matchAll(/derivedRoles: \[(.*)\]/g)) for (const d of JSON.parse(`[${m[1]}]`) as string[]) derived.add(d);
  const definitions = [...derived].map((name) => {
    const [agentGroup, userGroup] = name.split("-for-") as [string, string];
    return `    - name: ${name}
      parentRoles: [${agentGroup === "any" ? `"*"` : JSON.stringify(agentGroup)}]
      condition:
        match:
          expr: ${JSON.stringify(`has(P.attr.userGroups) && "${userGroup}" in P.attr.userGroups`)}`;
  });
  const cerbos: Record<string, string> = {
    "derived_roles.yaml": `apiVersion: api.cerbos.dev/v1
derivedRoles:
  name: user_groups
  definitions:
${definitions.join("\n")}
`,
  };
  for (const [server, rules] of cerbosRules) {
    cerbos[`${server}.yaml`] = `apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: ${JSON.stringify(server)}
  version: default
  importDerivedRoles: [user_groups]
  rules:
${rules.join("\n")}
`;
  }

  // Questions: mostly ordinary work, with the mistakes and probes a guardrail exists for.
  const questions: Question[] = [];
  const n = opts.questions ?? 2000;
  const seen = new Set<string>();
  for (let i = 0; questions.length < n; i++) {
    if (i > 100 * n) throw new Error(`cannot draw ${n} distinct questions`);
    const s = Math.floor(rand() * SERVERS.length);
    const server = SERVERS[s]!;
    const kind = pick(KINDS);
    const tool = toolsOf.get(server)!.get(kind)!;
    // Agents mostly call servers their group works with, so the mix is mostly allows.
    const usual = rand() < 0.7;
    const agentIndex = usual ? pickAgentOf(rand, kind === "create" || kind === "update" ? writer(s) : kind === "export" ? "analytics-agents" : kind === "delete" ? "sre-agents" : pick(readers(s))) : Math.floor(rand() * 60);
    const withUser = rand() < 0.85;
    const userIndex = usual && withUser ? pickUserOf(rand, kind === "delete" ? "admins" : owner(s)) : Math.floor(rand() * 120);
    const path = rand() < 0.06 ? `/${server}/work/../../etc/passwd` : rand() < 0.8 ? `/${server}/work/${sentence(3).replaceAll(" ", "-")}.md` : `/${server}/archive/${Math.floor(rand() * 1e6)}.json`;
    const q: Question = { agent: `agent-${agentIndex}`, server, tool, arguments: argumentsFor(kind, path, rand, sentence) };
    if (withUser) q.user = `user-${userIndex}`;
    if (rand() < 0.8) q.task = rand() < 0.5 ? { id: `INC-${1000 + i}`, kind: pick(TASK_KINDS) } : { id: `T-${i}` };
    if (opts.distinct) {
      const key = JSON.stringify([q.agent, q.user ?? null, q.server, q.tool]);
      if (seen.has(key)) continue;
      seen.add(key);
    }
    questions.push(q);
  }

  return { catalogs, policies: { "workload.cedar": cedarPolicies.join("\n\n") + "\n" }, entities, questions, cerbos, agentGroups, userGroups, policyCount: cedarPolicies.length };
}

/** Options of {@link taskShapedQuestions}. */
export interface TaskShapedOptions {
  seed?: number;
  /** Tasks under way at once (default 200): when one ends, a new one starts. */
  concurrent?: number;
  /** How many calls in all (default 60,000): enough that a benchmark run never sends one twice. */
  calls?: number;
}

/**
 * Tool calls as agents working on tasks make them: `concurrent` tasks under way at once, each
 * one agent acting for one user on one server, 20 calls a task: 12 reads over 4 distinct paths
 * (each read asked three times with the same arguments), 6 writes with distinct contents over
 * 2 paths, and 2 calls that policies deny (a path traversal, a write carrying a private key).
 * Each task's calls come in a shuffled order, and the tasks' calls are interleaved at random,
 * as concurrent agents' would be; when a task ends, a new one starts with fresh ids, paths and
 * contents, so no call repeats another task's. The agent is the server's task agent (in a group
 * that reads it and the one that writes it), the user one of the server's owning group who is
 * not a contractor; so the 18 reads and writes are allowed by the same rules in Cedar and Cerbos.
 * @returns the calls in the order they are to be sent, and how many of them repeat an earlier
 *   call exactly (8 of every 20: the upper bound of an exact cache's hit rate)
 */
export function taskShapedQuestions(w: Workload, opts: TaskShapedOptions = {}): { questions: Question[]; repeats: number } {
  const rand = rng(opts.seed ?? 4242);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const words = "the deploy failed after the migration ran twice so we rolled back and paged the on call engineer who found a lock held by the nightly export job".split(" ");
  const sentence = (n: number) => Array.from({ length: n }, () => pick(words)).join(" ");
  const toolOf = (server: string, kind: Kind) => w.catalogs[server]!.tools.find((t) => t.name.startsWith(`${kind}_`))!.name;
  const ownersOf = SERVERS.map((_, s) => [...w.userGroups].filter(([, g]) => g[0] === owner(s) && !g.includes("contractors")).map(([u]) => u));
  let started = 0;
  const newTask = (): Question[] => {
    const n = started++;
    const s = Math.floor(rand() * SERVERS.length);
    const server = SERVERS[s]!;
    const base = { agent: taskAgent(s), user: pick(ownersOf[s]!), server, task: { id: `TASK-${n}`, kind: pick(TASK_KINDS) } };
    const dir = `/${server}/work/task-${n}`;
    const calls: Question[] = [];
    for (let p = 0; p < 4; p++) {
      const path = `${dir}/notes-${p}.md`;
      const read: Question = { ...base, tool: toolOf(server, p % 2 ? "get" : "read"), arguments: { path, paths: [`${dir}/sections/part-${p}.md`], ref: "refs/heads/main", maxBytes: 65536 } };
      for (let r = 0; r < 3; r++) calls.push(read);
    }
    for (let k = 0; k < 6; k++) {
      calls.push({ ...base, tool: toolOf(server, k % 2 ? "update" : "create"), arguments: { path: `${dir}/out-${k % 2}.md`, content: `${sentence(150)} (${n}-${k})`, message: sentence(12), tags: ["task"], options: { overwrite: true, dryRun: false } } });
    }
    calls.push({ ...base, tool: toolOf(server, "read"), arguments: { path: `${dir}/../../etc/passwd`, paths: [], ref: "refs/heads/main", maxBytes: 65536 } });
    calls.push({ ...base, tool: toolOf(server, "create"), arguments: { path: `${dir}/key.pem`, content: `-----BEGIN PRIVATE KEY-----\n${sentence(40)} (${n})`, message: "add key", tags: [], options: { overwrite: false, dryRun: false } } });
    for (let i = calls.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [calls[i], calls[j]] = [calls[j]!, calls[i]!];
    }
    return calls;
  };
  const total = opts.calls ?? 60_000;
  const running = Array.from({ length: opts.concurrent ?? 200 }, newTask);
  const questions: Question[] = [];
  const sent = new Set<string>();
  let repeats = 0;
  while (questions.length < total) {
    const at = Math.floor(rand() * running.length);
    const q = running[at]!.shift()!;
    if (running[at]!.length === 0) running[at] = newTask();
    const text = JSON.stringify(q);
    if (sent.has(text)) repeats++;
    else sent.add(text);
    questions.push(q);
  }
  return { questions, repeats };
}

function pickAgentOf(rand: () => number, group: string): number {
  const g = AGENT_GROUPS.indexOf(group);
  // agents 2.. are in group i % 5; skip the quarantined ones most of the time
  const candidates = Array.from({ length: 60 }, (_, i) => i).filter((i) => i >= 2 && i % 5 === g);
  return rand() < 0.03 ? Math.floor(rand() * 2) : candidates[Math.floor(rand() * candidates.length)]!;
}

function pickUserOf(rand: () => number, group: string): number {
  const g = USER_GROUPS.indexOf(group);
  const candidates = Array.from({ length: 120 }, (_, i) => i).filter((i) => i % 8 === g || (i % 5 === 0 && (i + 3) % 8 === g));
  return rand() < 0.08 ? Math.floor(rand() * 120) : candidates[Math.floor(rand() * candidates.length)]!;
}

function argumentsFor(kind: Kind, path: string, rand: () => number, sentence: (n: number) => string): Record<string, unknown> {
  const labels = Array.from({ length: 8 }, (_, i) => `label-${Math.floor(rand() * 50)}-${i}`);
  switch (kind) {
    case "read":
    case "get":
      return { path, paths: Array.from({ length: 16 }, (_, i) => `${path.replace(/\.\w+$/, "")}/sections/part-${i}-${Math.floor(rand() * 1e6)}.md`), ref: "refs/heads/main", maxBytes: 65536 };
    case "list":
    case "search":
      return { query: sentence(150), limit: 50, filters: { labels, since: "2026-01-01T00:00:00Z", owner: "platform" } };
    case "create":
    case "update":
      return {
        path,
        content: (rand() < 0.05 ? "-----BEGIN PRIVATE KEY-----\n" : "") + sentence(150),
        message: sentence(12),
        tags: labels.slice(0, 4),
        options: { overwrite: rand() < 0.5, dryRun: false },
      };
    case "delete":
      return { path, reason: sentence(180), recursive: rand() < 0.2 };
    case "export":
      return { query: sentence(165), format: "parquet", limit: rand() < 0.15 ? 50000 : 1000, columns: labels };
  }
}

/**
 * Writes the workload as Verdict's policy and schema directories (`<dir>/policies`, `<dir>/schema`
 * with the repository's base schema and `servers/<id>.json` catalogs) and Cerbos's policy
 * directory (`<dir>/cerbos`).
 */
export function writeWorkload(w: Workload, dir: string, baseSchemaPath: string): { policyDir: string; schemaDir: string; cerbosDir: string } {
  const policyDir = join(dir, "policies");
  const schemaDir = join(dir, "schema");
  const cerbosDir = join(dir, "cerbos");
  for (const d of [policyDir, join(schemaDir, "servers"), cerbosDir]) mkdirSync(d, { recursive: true });
  writeFileSync(join(schemaDir, "mcp.cedarschema"), readFileSync(baseSchemaPath, "utf8"));
  for (const [server, catalog] of Object.entries(w.catalogs)) writeFileSync(join(schemaDir, "servers", `${server}.json`), JSON.stringify(catalog, null, 2));
  for (const [name, text] of Object.entries(w.policies)) writeFileSync(join(policyDir, name), text);
  writeFileSync(join(policyDir, "entities.json"), JSON.stringify(w.entities));
  for (const [name, text] of Object.entries(w.cerbos)) writeFileSync(join(cerbosDir, name), text);
  return { policyDir, schemaDir, cerbosDir };
}

/** The Cerbos `CheckResources` request equivalent to a question. */
export function cerbosRequest(w: Workload, q: Question, requestId: string): Record<string, unknown> {
  const attr: Record<string, unknown> = {};
  if (q.user !== undefined) {
    attr.user = q.user;
    attr.userGroups = w.userGroups.get(q.user) ?? [];
  }
  if (q.task) attr.task = q.task;
  return {
    requestId,
    principal: { id: q.agent, roles: w.agentGroups.get(q.agent) ?? [], attr },
    resources: [{ actions: [q.tool], resource: { kind: q.server, id: q.server, attr: { input: q.arguments } } }],
  };
}
