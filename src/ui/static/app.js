// Verdict's decision explorer: plain browser JavaScript over Verdict's own API, no build step.
// The key (an auditor's, or an approver's) stays in sessionStorage (gone when the tab closes)
// and travels as `Authorization: Bearer`. Four views, chosen by the URL fragment: the decision
// list (no fragment), one task (`#task=<id>`), the approval requests (`#approvals`) and one
// approval request (`#approval=<id>`), ids form-encoded. Records and requests hold strings agents
// and callers chose, so every one reaches the page through textContent, never as markup.
"use strict";

const KEY = "verdict.apiKey";
/** Records per page of the task view. */
const TASK_PAGE = 50;
const $ = (id) => document.getElementById(id);
const state = { cursor: null, query: null, chart: null };
/** The task on view; `seq` drops the answers of a task left before they arrived. */
const task = { id: null, cursor: null, seq: 0 };
/** Approval requests per page of the list. */
const APPROVAL_PAGE = 50;
/** The approval list: its query, next page and `seq` (as the task's). */
const approvalList = { query: null, cursor: null, seq: 0 };
/** The approval request on view (`current`: as last read or decided), and whether a decision is on its way. */
const approval = { id: null, current: null, seq: 0, busy: false };
/** Whether the decision list must be searched again when it is shown (never yet, or a new key). */
let decisionsStale = true;

function headers() {
  const key = sessionStorage.getItem(KEY);
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** Verdict's message of an error answer (its `error.message`), else the HTTP status. */
async function errorMessage(res) {
  try {
    const m = (await res.json()).error.message;
    if (typeof m === "string" && m) return m;
  } catch {
    // not Verdict's error shape
  }
  return `${res.status} ${res.statusText}`;
}

/**
 * Fetches `path` with the key; a non-2xx answer throws an Error whose message is Verdict's
 * (`status` and `serverMessage` on it), "(check the API key)" added for 401 and 403.
 */
async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { ...headers(), ...(init.headers ?? {}) } });
  if (!res.ok) {
    const message = await errorMessage(res);
    const e = new Error(res.status === 401 || res.status === 403 ? `${message} (check the API key)` : message);
    e.status = res.status;
    e.serverMessage = message;
    throw e;
  }
  return res;
}

function showError(e) {
  $("error").hidden = !e;
  $("error").textContent = e ? e.message : "";
}

/** The filter form as query parameters (argument filters `a=b` become `arg.a=b`). */
function filterParams() {
  const form = new FormData($("filters"));
  const q = new URLSearchParams();
  for (const name of ["agent", "user", "server", "tool", "decision", "task", "policy", "caller", "requestId"]) {
    const v = String(form.get(name) || "").trim();
    if (v) q.set(name, v);
  }
  for (const name of ["since", "until"]) {
    const v = String(form.get(name) || "");
    if (v) q.set(name, new Date(v).toISOString());
  }
  for (const part of String(form.get("args") || "").split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) q.append(`arg.${part.slice(0, eq).trim()}`, part.slice(eq + 1).trim());
  }
  return q;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

const shortTime = (t) => t.replace("T", " ").replace("Z", "");

/** The fragment of a task's view. */
const taskHash = (id) => `#${new URLSearchParams({ task: id })}`;

/** A link to a task's view, its id as text; a click on it does not also open the row it sits in. */
function taskLink(id) {
  const a = document.createElement("a");
  a.href = taskHash(id);
  a.className = "task-link";
  a.dataset.testid = "task-link";
  a.textContent = id;
  a.addEventListener("click", (e) => e.stopPropagation());
  return a;
}

/** What a record did, for the Tool column: `task/end` records have no server or tool. */
function toolOf(d) {
  if (d.kind === "task/end") return "task ended";
  if (d.server || d.tool) return `${d.server}/${d.tool}`;
  return d.action || "—";
}

function addRows(decisions) {
  const tbody = $("rows");
  for (const d of decisions) {
    const tr = document.createElement("tr");
    tr.dataset.id = d.id;
    tr.dataset.testid = "decision-row";
    const taskCell = cell(d.task ? "" : "—");
    if (d.task) taskCell.append(taskLink(d.task.id));
    tr.append(
      cell(shortTime(d.time)),
      cell(d.decision, `decision-${d.decision}`),
      cell(d.agent || "—"),
      cell(d.user ?? "—"),
      cell(toolOf(d), d.kind === "task/end" ? "event-ended" : ""),
      taskCell,
      cell(d.reasons.join(", ")),
    );
    if (d.kind === "task/end") tr.classList.add("task-end");
    tr.addEventListener("click", () => openDetail(d.id).catch(showError));
    tbody.append(tr);
  }
}

async function loadPage() {
  const q = new URLSearchParams(state.query);
  q.set("limit", "50");
  if (state.cursor) q.set("cursor", state.cursor);
  const page = await (await api(`/v1/decisions?${q}`)).json();
  addRows(page.decisions);
  state.cursor = page.nextCursor;
  $("more").hidden = !page.nextCursor;
}

function bars(list, items, label) {
  list.replaceChildren();
  const max = Math.max(1, ...items.map((i) => i.deny));
  for (const i of items.filter((i) => i.deny > 0)) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = label(i);
    name.title = label(i);
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${(100 * i.deny) / max}%`;
    const n = document.createElement("span");
    n.textContent = String(i.deny);
    li.append(name, bar, n);
    list.append(li);
  }
  if (!list.children.length) list.innerHTML = '<li class="muted">no denies</li>';
}

async function loadStats() {
  const q = new URLSearchParams(state.query);
  q.set("bucket", String(new FormData($("filters")).get("bucket") || "hour"));
  const stats = await (await api(`/v1/decisions/stats?${q}`)).json();
  $("totals").textContent = `${stats.totals.allow} allowed, ${stats.totals.deny} denied`;
  const data = [stats.series.map((s) => Date.parse(s.time) / 1000), stats.series.map((s) => s.allow), stats.series.map((s) => s.deny)];
  const el = $("chart-time");
  const opts = {
    width: Math.max(300, el.clientWidth || 600),
    height: 220,
    series: [{}, { label: "allow", stroke: "#1a7f37", fill: "rgba(26,127,55,0.1)" }, { label: "deny", stroke: "#cf222e", fill: "rgba(207,34,46,0.1)" }],
    axes: [{}, { label: "decisions" }],
  };
  if (state.chart) state.chart.destroy();
  state.chart = new uPlot(opts, data, el);
  bars($("top-tools"), stats.tools, (t) => `${t.server}/${t.tool}`);
  bars($("top-agents"), stats.agents, (a) => a.agent);
}

async function search() {
  showError(null);
  state.query = filterParams().toString();
  state.cursor = null;
  $("rows").replaceChildren();
  await Promise.all([loadPage(), loadStats()]);
}

function dl(entries) {
  const out = [];
  for (const [k, v] of entries) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    if (v instanceof Node) dd.append(v);
    else dd.textContent = v === null || v === undefined || v === "" ? "—" : v;
    out.push(dt, dd);
  }
  return out;
}

/**
 * The determining policies' text, from the version that decided: never from the set in force,
 * which may say the opposite (an allow shown beside a forbid). A notice says when the deciding
 * version is not the one in force, and when its sources are not stored.
 */
async function showPolicies(d, policySet) {
  const notice = $("d-version");
  const inForce = policySet.sameVersion;
  notice.className = inForce ? "muted" : "notice";
  notice.textContent = inForce
    ? `policy set ${d.policySetVersion} (the one in force)`
    : `decided by version ${d.policySetVersion} (not the active version${policySet.activeVersion ? `, ${policySet.activeVersion}` : ""}); the texts below are the deciding version's`;
  const policies = $("d-policies");
  policies.replaceChildren();
  const ids = d.reasons.filter((r) => !r.startsWith("verdict:"));
  let texts = new Map();
  let problem = null;
  if (ids.length) {
    const q = new URLSearchParams(ids.map((i) => ["id", i]));
    try {
      const answer = await (await api(`/v1/policy-sets/${encodeURIComponent(d.policySetVersion)}/policies?${q}`)).json();
      if (answer.version !== d.policySetVersion) throw new Error(`asked for ${d.policySetVersion}, got ${answer.version}`);
      texts = new Map(answer.policies.map((p) => [p.id, p]));
    } catch (e) {
      problem = e.message;
    }
  }
  for (const pid of d.reasons) {
    const p = texts.get(pid);
    const div = document.createElement("div");
    div.className = "policy";
    const h = document.createElement("h4");
    h.textContent = p ? `${p.id} (${p.file}:${p.line})` : pid;
    const pre = document.createElement("pre");
    pre.textContent = p
      ? p.text
      : pid.startsWith("verdict:")
        ? "Verdict's own check (no Cedar policy)"
        : problem
          ? `the text of version ${d.policySetVersion} cannot be shown: ${problem}`
          : `not in version ${d.policySetVersion}`;
    if (!p && !pid.startsWith("verdict:")) pre.className = "missing";
    div.append(h, pre);
    policies.append(div);
  }
  if (!d.reasons.length) policies.textContent = "No policy determined this decision (no permit applied: denied by default).";
}

/** The detail's task: a link to its view, and its kind. */
function taskDetail(t) {
  const span = document.createElement("span");
  span.append(taskLink(t.id));
  if (t.kind) span.append(` (kind ${t.kind})`);
  return span;
}

/** The detail's approval (a record's `approval` obligation): a link to its page, and its status there. */
function approvalDetail(o) {
  const span = document.createElement("span");
  const a = document.createElement("a");
  a.href = approvalHash(o.id);
  a.className = "approval-link";
  a.dataset.testid = "detail-approval-link";
  a.textContent = o.id;
  span.append(a, ` (${o.status}${o.approvedBy ? `, approved by ${o.approvedBy}` : ""})`);
  return span;
}

async function openDetail(id) {
  const info = await (await api(`/v1/audit/decisions/${id}`)).json();
  const d = info.decision;
  const approvalObligation = (Array.isArray(d.obligations) ? d.obligations : []).find((o) => o && o.type === "approval" && typeof o.id === "string");
  $("d-id").textContent = d.id;
  $("d-summary").replaceChildren(
    ...dl([
      ["time", d.time],
      ["decision", d.decision],
      ["message", d.message],
      ["agent", d.agent],
      ["user", d.user],
      ["delegation", JSON.stringify(d.delegation)],
      ["action", d.action],
      ["task", d.task ? taskDetail(d.task) : null],
      ...(approvalObligation ? [["approval", approvalDetail(approvalObligation)]] : []),
      ["arguments", JSON.stringify(d.arguments)],
      ["arguments sha256", d.argumentsSha256],
      ["caller", d.caller],
      ["request id", d.requestId],
      ["policy-set version", d.policySetVersion],
      ["evaluation", `${d.evaluationMicros} µs`],
    ]),
  );
  const c = info.chain;
  const allOk = c.hashOk && c.prevOk && c.nextOk;
  $("d-chain").className = allOk ? "ok" : "bad";
  $("d-chain").textContent =
    `${allOk ? "intact" : "BROKEN"}: hash ${c.hashOk ? "matches" : "does not match"}, ` +
    `link to previous ${c.prevOk ? "ok" : "broken"}, link to next ${c.nextOk ? "ok" : "broken"}, ` +
    `${c.signed ? "covered by a signed chain head" : "not yet covered by a signed chain head"} ` +
    `(stream ${d.stream}, seq ${d.seq})`;
  await showPolicies(d, info.policySet);
  $("d-request").textContent = JSON.stringify(d.request, null, 2);
  $("d-record").textContent = JSON.stringify(d, null, 2);
  $("detail").hidden = false;
}

async function exportAs(format) {
  const q = new URLSearchParams(state.query ?? filterParams().toString());
  q.set("format", format);
  // The key travels in a header, so the download goes through fetch and a blob URL.
  const blob = await (await api(`/v1/decisions/export?${q}`)).blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `decisions.${format}`;
  a.click();
  URL.revokeObjectURL(a.href);
}

function taskError(e) {
  $("t-error").hidden = !e;
  $("t-error").textContent = e ? e.message : "";
}

/** An API failure of the task view, as a sentence for the auditor. */
function taskProblem(id, e) {
  if (e.status === 404) return new Error(`No record names task ${JSON.stringify(id)}: no decision was made for it and it was not ended.`);
  if (e.status) return new Error(`Task ${JSON.stringify(id)} cannot be shown: ${e.message}`);
  return new Error(`Task ${JSON.stringify(id)} cannot be shown: Verdict did not answer (${e.message})`);
}

/** The reason a `task/end` record names (`message` is "task ended: <reason>"), or null. */
function endReason(record) {
  const m = record.message ?? "";
  return m.startsWith("task ended: ") ? m.slice("task ended: ".length) : null;
}

/** The status line: open, or ended with when, by whom and why (the reason is in the end record). */
function showStatus(ended, endRecord) {
  const p = $("t-status");
  const badge = document.createElement("span");
  badge.className = ended ? "status status-ended" : "status status-open";
  badge.dataset.testid = "task-state";
  badge.textContent = ended ? "ended" : "open";
  if (!ended) {
    p.replaceChildren(badge, " not ended: calls naming it are decided by the policies");
    return;
  }
  const reason = endRecord ? endReason(endRecord) : null;
  const why = document.createElement("span");
  why.dataset.testid = "task-end-reason";
  why.textContent = endRecord ? (reason === null ? "no reason given" : `reason: ${reason}`) : "reason: (the end record could not be read)";
  p.replaceChildren(
    badge,
    ` at ${shortTime(ended.endedAt)} UTC by ${ended.endedBy ?? "an unknown caller"}; `,
    why,
    "; every later call naming it is denied (verdict:task-ended)",
  );
}

function actorItem(a) {
  const li = document.createElement("li");
  li.dataset.testid = "task-actor";
  const chain = document.createElement("span");
  chain.className = "chain";
  const agent = document.createElement("strong");
  agent.textContent = a.agent || "—";
  chain.append(agent, ` ← ${a.user ?? "no user"}`);
  li.append(chain);
  if (a.delegation.length) {
    const label = document.createElement("span");
    label.className = "muted";
    label.textContent = " delegation (act, outermost first): ";
    const ol = document.createElement("ol");
    ol.className = "delegation";
    ol.dataset.testid = "delegation";
    for (const actor of a.delegation) {
      const item = document.createElement("li");
      item.textContent = actor.iss ? `${actor.sub} (${actor.iss})` : actor.sub;
      ol.append(item);
    }
    li.append(label, ol);
  }
  const counts = document.createElement("span");
  counts.className = "muted counts";
  counts.textContent = ` ${a.decisions} decision${a.decisions === 1 ? "" : "s"}: ${a.allowed} allowed, ${a.denied} denied; ${shortTime(a.first)} to ${shortTime(a.last)}`;
  li.append(counts);
  return li;
}

/** The reasons of a timeline row: Cedar's determining policies and Verdict's own `verdict:*` checks. */
function reasonsOf(d) {
  if (d.kind === "task/end") return `${d.message ?? "task ended"}${d.caller ? ` (by ${d.caller})` : ""}`;
  if (d.reasons.length) return d.reasons.join(", ");
  return d.decision === "deny" ? "no permit applied (denied by default)" : "—";
}

function addTaskRows(records) {
  const tbody = $("t-rows");
  for (const d of records) {
    const tr = document.createElement("tr");
    tr.dataset.id = d.id;
    tr.dataset.testid = "task-record";
    tr.dataset.kind = d.kind;
    const end = d.kind === "task/end";
    if (end) tr.className = "task-end";
    tr.append(
      cell(shortTime(d.time)),
      end ? cell("ended", "event-ended") : cell(d.decision, `decision-${d.decision}`),
      cell(d.agent || "—"),
      cell(d.user ?? "—"),
      cell(toolOf(d), end ? "event-ended" : ""),
      cell(reasonsOf(d)),
    );
    tr.addEventListener("click", () => openDetail(d.id).catch(taskError));
    tbody.append(tr);
  }
  const n = tbody.children.length;
  $("t-count").textContent = `${n} record${n === 1 ? "" : "s"} shown`;
}

/** The end record: on a page already shown, else read by its id. */
async function endRecordOf(ended, records) {
  const found = records.find((r) => r.id === ended.recordId);
  if (found) return found;
  try {
    return await (await api(`/v1/decisions/${encodeURIComponent(ended.recordId)}`)).json();
  } catch {
    return null;
  }
}

/** Shows a task: its status, totals, actor chains and first page of records. */
async function openTask(id) {
  const seq = ++task.seq;
  Object.assign(task, { id, cursor: null });
  $("t-id").textContent = id;
  $("t-kind").textContent = "";
  $("task-input").value = id;
  $("t-body").hidden = true;
  $("t-rows").replaceChildren();
  $("t-more").hidden = true;
  taskError(null);
  let view;
  try {
    view = await (await api(`/v1/tasks/${encodeURIComponent(id)}?limit=${TASK_PAGE}`)).json();
  } catch (e) {
    if (seq === task.seq) taskError(taskProblem(id, e));
    return;
  }
  if (seq !== task.seq) return;
  $("t-kind").textContent = view.task.kind ? `kind ${view.task.kind}` : "no kind";
  const s = view.summary;
  $("t-summary").replaceChildren(
    ...dl([
      ["decisions", String(s.decisions)],
      ["allowed", String(s.allowed)],
      ["denied", String(s.denied)],
      ["first", s.first && `${shortTime(s.first)} UTC`],
      ["last", s.last && `${shortTime(s.last)} UTC`],
    ]),
  );
  $("t-actors").replaceChildren(...view.actors.map(actorItem));
  if (!view.actors.length) $("t-actors").textContent = "No tools/call decision names this task.";
  task.cursor = view.nextCursor;
  addTaskRows(view.records);
  if (!view.records.length) $("t-count").textContent = "no records";
  $("t-more").hidden = !view.nextCursor;
  showStatus(view.ended, view.ended ? await endRecordOf(view.ended, view.records) : null);
  if (seq !== task.seq) return;
  $("t-body").hidden = false;
}

async function moreTask() {
  const seq = task.seq;
  const q = new URLSearchParams({ limit: String(TASK_PAGE), cursor: task.cursor });
  let view;
  try {
    view = await (await api(`/v1/tasks/${encodeURIComponent(task.id)}?${q}`)).json();
  } catch (e) {
    if (seq === task.seq) taskError(taskProblem(task.id, e));
    return;
  }
  if (seq !== task.seq) return;
  addTaskRows(view.records);
  task.cursor = view.nextCursor;
  $("t-more").hidden = !view.nextCursor;
}

/** The fragment of an approval request's page. */
const approvalHash = (id) => `#${new URLSearchParams({ approval: id })}`;

/** A status badge of an approval request. */
function approvalBadge(status, testid) {
  const badge = document.createElement("span");
  badge.className = `status approval-${status}`;
  if (testid) badge.dataset.testid = testid;
  badge.textContent = status;
  return badge;
}

/** Arguments as one line of JSON, shortened for a table cell. */
function argumentsLine(args) {
  const json = JSON.stringify(args) ?? "—";
  return json.length > 120 ? `${json.slice(0, 119)}…` : json;
}

/** The list's failures, as a sentence. */
function approvalsError(e) {
  $("al-error").hidden = !e;
  $("al-error").textContent = e ? (e.status ? `Approval requests cannot be listed: ${e.message}` : `Approval requests cannot be listed: Verdict did not answer (${e.message})`) : "";
}

/** The filter form of the list as query parameters (status `any` is no status). */
function approvalParams() {
  const form = new FormData($("approval-filters"));
  const q = new URLSearchParams();
  for (const name of ["status", "group", "agent", "user", "task"]) {
    const v = String(form.get(name) || "").trim();
    if (v) q.set(name, v);
  }
  return q;
}

function addApprovalRows(list) {
  const tbody = $("al-rows");
  for (const a of list) {
    const tr = document.createElement("tr");
    tr.dataset.id = a.id;
    tr.dataset.status = a.status;
    tr.dataset.testid = "approval-row";
    const status = document.createElement("td");
    status.append(approvalBadge(a.status));
    const tool = document.createElement("td");
    const link = document.createElement("a");
    link.href = approvalHash(a.id);
    link.className = "approval-link";
    link.dataset.testid = "approval-link";
    link.textContent = `${a.call.server}/${a.call.tool}`;
    link.addEventListener("click", (e) => e.stopPropagation());
    tool.append(link);
    const args = cell(argumentsLine(a.call.arguments), "args");
    args.title = JSON.stringify(a.call.arguments) ?? "";
    tr.append(
      cell(shortTime(a.createdAt)),
      status,
      tool,
      args,
      cell(a.call.agent || "—"),
      cell(a.call.user ?? "—"),
      cell(a.call.task ? a.call.task.id : "—"),
      cell(a.groups.join(", ")),
      cell(shortTime(a.expiresAt)),
    );
    tr.addEventListener("click", () => (location.hash = approvalHash(a.id)));
    tbody.append(tr);
  }
  const n = tbody.children.length;
  const status = String(new FormData($("approval-filters")).get("status") || "");
  $("al-count").textContent = n
    ? `${n} request${n === 1 ? "" : "s"} shown${status ? ` (${status})` : ""}`
    : status
      ? `No ${status} approval request${status === "pending" ? ": nothing waits for a decision" : ""}.`
      : "No approval request.";
}

/** One page of the list (`seq`: the search it belongs to). */
async function approvalPage(seq) {
  const q = new URLSearchParams(approvalList.query);
  q.set("limit", String(APPROVAL_PAGE));
  if (approvalList.cursor) q.set("cursor", approvalList.cursor);
  let page;
  try {
    page = await (await api(`/v1/approvals?${q}`)).json();
  } catch (e) {
    if (seq === approvalList.seq) approvalsError(e);
    return;
  }
  if (seq !== approvalList.seq) return;
  addApprovalRows(page.approvals);
  approvalList.cursor = page.nextCursor;
  $("al-more").hidden = !page.nextCursor;
}

/** The list from its first page, as the filters say (pending only, unless another status is chosen). */
async function searchApprovals() {
  const seq = ++approvalList.seq;
  approvalList.query = approvalParams().toString();
  approvalList.cursor = null;
  approvalsError(null);
  $("al-rows").replaceChildren();
  $("al-count").textContent = "";
  $("al-more").hidden = true;
  await approvalPage(seq);
}

function approvalError(e) {
  $("a-error").hidden = !e;
  $("a-error").textContent = e ? e.message : "";
}

function decideError(e) {
  $("a-decide-error").hidden = !e;
  $("a-decide-error").textContent = e ? e.message : "";
}

/** What a decision just made did, beside where its buttons were. */
function decidedNotice(a) {
  const n = $("a-decided");
  n.hidden = !a;
  n.textContent = !a
    ? ""
    : a.status === "approved"
      ? `Approved by ${a.decidedBy}: the identical call is allowed once, until ${shortTime(a.expiresAt)} UTC.`
      : `Denied by ${a.decidedBy}: the call stays denied.`;
}

/** An API failure reading a request, as a sentence. */
function approvalProblem(id, e) {
  if (e.status === 404) return new Error(`No approval request ${JSON.stringify(id)}.`);
  if (e.status) return new Error(`Approval request ${JSON.stringify(id)} cannot be shown: ${e.message}`);
  return new Error(`Approval request ${JSON.stringify(id)} cannot be shown: Verdict did not answer (${e.message})`);
}

/** A span of text with a test id. */
function span(text, testid) {
  const s = document.createElement("span");
  s.textContent = text;
  if (testid) s.dataset.testid = testid;
  return s;
}

/** `<dt>`/`<dd>` pairs; an entry's third item is the `<dd>`'s test id. */
function facts(entries) {
  const out = dl(entries);
  entries.forEach(([, , testid], i) => {
    if (testid) out[2 * i + 1].dataset.testid = testid;
  });
  return out;
}

/** The status line: what the request waits for, or who decided it, when, and what came of it. */
function approvalStatusLine(a) {
  const t = (iso) => `${shortTime(iso)} UTC`;
  const by = () => span(a.decidedBy ?? "an unknown approver", "approval-decided-by");
  const parts = [approvalBadge(a.status, "approval-status"), " "];
  if (a.status === "pending") {
    parts.push(`waiting for a person of ${a.groups.join(" or ")}; the call stays denied until then, and the request lapses at ${t(a.expiresAt)}`);
  } else if (a.status === "approved") {
    parts.push("by ", by(), ` at ${t(a.decidedAt)}; the identical call is allowed once, until ${t(a.expiresAt)}`);
  } else if (a.status === "denied") {
    parts.push("by ", by(), ` at ${t(a.decidedAt)}; the call stays denied (asking again gives this request until ${t(a.expiresAt)})`);
  } else if (a.status === "used") {
    parts.push("approved by ", by(), ` at ${a.decidedAt ? t(a.decidedAt) : "an unknown time"}; the identical call was allowed once at ${a.usedAt ? t(a.usedAt) : "an unknown time"}`);
    if (a.usedBy) parts.push(" by decision ", span(a.usedBy, "approval-used-by"));
    parts.push("; another identical call needs a new approval");
  } else if (a.decidedBy) {
    parts.push("approved by ", by(), ` at ${t(a.decidedAt)}, not used before ${t(a.expiresAt)}; another identical call needs a new approval`);
  } else {
    parts.push(`nobody decided it before ${t(a.expiresAt)}; another identical call makes a new request`);
  }
  return parts;
}

/** The delegation chain, outermost (current) actor first. */
function delegationList(chain) {
  if (!chain.length) return "none (no act claim: the agent itself called)";
  const ol = document.createElement("ol");
  ol.className = "delegation";
  ol.dataset.testid = "approval-delegation";
  for (const actor of chain) {
    const li = document.createElement("li");
    li.textContent = actor.iss ? `${actor.sub} (${actor.iss})` : actor.sub;
    ol.append(li);
  }
  return ol;
}

/** Shows a request as read or decided (not its policies' text: {@link showApprovalPolicies}). */
function showApproval(a) {
  approval.current = a;
  $("a-id").textContent = a.id;
  $("a-status").replaceChildren(...approvalStatusLine(a));
  const comment = $("a-comment");
  comment.hidden = a.comment === null || a.comment === "";
  comment.replaceChildren();
  if (!comment.hidden) comment.append(`comment by ${a.decidedBy ?? "the approver"}: `, span(a.comment, "approval-comment-text"));
  // Only a pending request can be decided.
  $("a-decide").hidden = a.status !== "pending";
  const c = a.call;
  const taskNode = c.task ? document.createElement("span") : null;
  if (taskNode) {
    taskNode.append(span(c.task.id, "approval-task"));
    if (c.task.kind) taskNode.append(` (kind ${c.task.kind})`);
  }
  $("a-call").replaceChildren(
    ...facts([
      ["tool", `${c.server}/${c.tool}`, "approval-tool"],
      ["user", c.user ?? "no user (the agent acts for nobody)", "approval-user"],
      ["agent", c.agent, "approval-agent"],
      ["delegation (outermost first)", delegationList(c.delegation), "approval-delegation-chain"],
      ["task", taskNode ?? "no task", "approval-task-line"],
      ["arguments sha256", c.argumentsSha256],
      ["tool definition sha256", c.definitionSha256],
    ]),
  );
  $("a-arguments").textContent = JSON.stringify(c.arguments, null, 2) ?? "—";
  $("a-groups").replaceChildren(
    ...a.groups.map((g) => {
      const li = document.createElement("li");
      li.dataset.testid = "approval-group";
      li.textContent = g;
      return li;
    }),
  );
  $("a-who").textContent =
    `A person of ${a.groups.length > 1 ? "one of these groups (Mcp::Group)" : "this group (Mcp::Group)"} decides, with an approver key created for them or their verified user token` +
    (c.user ? `; ${c.user}, the user the agent acts for, may not decide their own call.` : ".");
  $("a-times").replaceChildren(
    ...facts([
      ["requested", `${shortTime(a.createdAt)} UTC`, "approval-created"],
      [a.status === "pending" ? "lapses" : a.status === "approved" ? "usable until" : "expires", `${shortTime(a.expiresAt)} UTC`, "approval-expires"],
      ["decided", a.decidedAt ? `${shortTime(a.decidedAt)} UTC by ${a.decidedBy ?? "?"}` : null, "approval-decided"],
      ["used", a.usedAt ? `${shortTime(a.usedAt)} UTC${a.usedBy ? ` by decision ${a.usedBy}` : ""}` : null],
      ["request record", a.requestRecordId],
    ]),
  );
}

/**
 * Why the policy asks: the approvable forbids that denied the call, by id, and their text from
 * the version that decided when the key may read it (auditor, policy-admin, admin; an approver
 * key may not, and sees the ids only).
 */
async function showApprovalPolicies(a, seq) {
  $("a-version").textContent = `denied under policy set ${a.policySetVersion}; ${a.policies.length === 1 ? "this approvable forbid" : "these approvable forbids"} (@approval) asked for a person's decision:`;
  const box = $("a-policies");
  const heading = (id) => {
    const h = document.createElement("h4");
    h.dataset.testid = "approval-policy-id";
    h.textContent = id;
    return h;
  };
  box.replaceChildren(...a.policies.map((id) => {
    const div = document.createElement("div");
    div.className = "policy";
    div.append(heading(id));
    return div;
  }));
  if (!a.policies.length) return;
  let texts;
  let problem = null;
  try {
    const q = new URLSearchParams(a.policies.map((i) => ["id", i]));
    const answer = await (await api(`/v1/policy-sets/${encodeURIComponent(a.policySetVersion)}/policies?${q}`)).json();
    if (answer.version !== a.policySetVersion) throw new Error(`asked for ${a.policySetVersion}, got ${answer.version}`);
    texts = new Map(answer.policies.map((p) => [p.id, p]));
  } catch (e) {
    problem = e.status === 403 || e.status === 401
      ? "their text is not shown: this key may not read policy texts (roles auditor, policy-admin)"
      : `their text cannot be shown: ${e.message}`;
  }
  if (seq !== approval.seq) return;
  if (problem) {
    const p = document.createElement("p");
    p.className = "muted";
    p.dataset.testid = "approval-policy-notice";
    p.textContent = `The policy ids above are the forbids that asked; ${problem}.`;
    box.append(p);
    return;
  }
  box.replaceChildren(
    ...a.policies.map((id) => {
      const div = document.createElement("div");
      div.className = "policy";
      const p = texts.get(id);
      const h = heading(id);
      if (p) h.append(span(` (${p.file}:${p.line})`));
      const pre = document.createElement("pre");
      pre.dataset.testid = "approval-policy-text";
      pre.textContent = p ? p.text : `not in version ${a.policySetVersion}`;
      if (!p) pre.className = "missing";
      div.append(h, pre);
      return div;
    }),
  );
}

/** Opens a request's page: reads it, shows the call and the status, then the policies' text. */
async function openApproval(id) {
  const seq = ++approval.seq;
  Object.assign(approval, { id, current: null });
  $("a-id").textContent = id;
  $("a-body").hidden = true;
  $("a-comment-input").value = "";
  approvalError(null);
  decideError(null);
  decidedNotice(null);
  let a;
  try {
    a = await (await api(`/v1/approvals/${encodeURIComponent(id)}`)).json();
  } catch (e) {
    if (seq === approval.seq) approvalError(approvalProblem(id, e));
    return;
  }
  if (seq !== approval.seq) return;
  showApproval(a);
  $("a-body").hidden = false;
  await showApprovalPolicies(a, seq);
}

/** A refused decision, as a sentence for the approver. */
function decideProblem(verdict, status, message) {
  const what = verdict === "approve" ? "approved" : "denied";
  if (status === 403) return `Not ${what}: ${message}`;
  if (status === 401) return `Not ${what}: ${message} (paste an approver key created for you)`;
  if (status === 409) return `Not ${what}: ${message}. The page now shows the request as it is.`;
  if (status === 404) return `Not ${what}: ${message}`;
  return `Not ${what}: ${message} (${status})`;
}

/** Approves or denies the request on view, with the comment; shows what it is afterwards. */
async function decide(verdict) {
  const a = approval.current;
  if (!a || approval.busy) return;
  const seq = approval.seq;
  approval.busy = true;
  for (const b of ["a-approve", "a-deny"]) $(b).disabled = true;
  decideError(null);
  decidedNotice(null);
  const comment = $("a-comment-input").value.trim();
  try {
    let res;
    try {
      res = await fetch(`/v1/approvals/${encodeURIComponent(a.id)}/${verdict}`, {
        method: "POST",
        headers: { ...headers(), "content-type": "application/json" },
        body: JSON.stringify(comment ? { comment } : {}),
      });
    } catch (e) {
      if (seq === approval.seq) decideError(new Error(`Verdict did not answer (${e.message}): the request may or may not be decided; open it again to see.`));
      return;
    }
    if (seq !== approval.seq) return;
    if (res.ok) {
      const decided = await res.json();
      showApproval(decided);
      decidedNotice(decided);
      $("a-comment-input").value = "";
      return;
    }
    const problem = new Error(decideProblem(verdict, res.status, await errorMessage(res)));
    if (res.status === 409) {
      // Decided by someone else, or lapsed: show it as it is now.
      try {
        const now = await (await api(`/v1/approvals/${encodeURIComponent(a.id)}`)).json();
        if (seq === approval.seq) showApproval(now);
      } catch {
        // the sentence below says enough
      }
    }
    if (seq === approval.seq) decideError(problem);
  } finally {
    approval.busy = false;
    for (const b of ["a-approve", "a-deny"]) $(b).disabled = false;
  }
}

/** The view a fragment names: `task`, `approval`, `approvals` or `decisions`, and its id. */
function viewOf(hash) {
  const p = new URLSearchParams(hash.slice(1));
  const taskId = p.get("task");
  if (taskId) return { view: "task", id: taskId };
  const approvalId = p.get("approval");
  if (approvalId) return { view: "approval", id: approvalId };
  if (p.has("approvals")) return { view: "approvals", id: null };
  return { view: "decisions", id: null };
}

/** Shows the view the fragment names (see {@link viewOf}); anything else is the decision list. */
function route() {
  const { view, id } = viewOf(location.hash);
  $("decisions-view").hidden = view !== "decisions";
  $("task-view").hidden = view !== "task";
  $("approvals-view").hidden = view !== "approvals";
  $("approval-view").hidden = view !== "approval";
  $("detail").hidden = true;
  for (const [link, on] of [["to-decisions", "decisions"], ["to-approvals", "approvals"]]) {
    if (view === on) $(link).setAttribute("aria-current", "page");
    else $(link).removeAttribute("aria-current");
  }
  if (view !== "task") task.seq++;
  if (view !== "approvals") approvalList.seq++;
  if (view !== "approval") approval.seq++;
  if (view === "task") openTask(id).catch(taskError);
  else if (view === "approval") openApproval(id).catch(approvalError);
  else if (view === "approvals") searchApprovals().catch(approvalsError);
  else if (decisionsStale) {
    decisionsStale = false;
    search().catch(showError);
  } else {
    // A chart drawn while its view was hidden had no width to fit.
    const el = $("chart-time");
    if (state.chart && el.clientWidth) state.chart.setSize({ width: el.clientWidth, height: 220 });
  }
}

function keyState() {
  $("key-state").textContent = sessionStorage.getItem(KEY) ? "key set for this tab" : "no key";
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = $("api-key").value.trim();
    if (v) sessionStorage.setItem(KEY, v);
    else sessionStorage.removeItem(KEY);
    $("api-key").value = "";
    keyState();
    // The view on show is read again with the new key; the decision list when it is next shown.
    decisionsStale = true;
    route();
  });
  $("task-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("task-input").value.trim();
    if (!id) return;
    if (location.hash === taskHash(id)) openTask(id).catch(taskError);
    else location.hash = taskHash(id);
  });
  window.addEventListener("hashchange", route);
  $("t-more").addEventListener("click", () => moreTask().catch(taskError));
  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    search().catch(showError);
  });
  $("more").addEventListener("click", () => loadPage().catch(showError));
  $("close-detail").addEventListener("click", () => ($("detail").hidden = true));
  $("export-jsonl").addEventListener("click", () => exportAs("jsonl").catch(showError));
  $("export-csv").addEventListener("click", () => exportAs("csv").catch(showError));
  $("approval-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    searchApprovals().catch(approvalsError);
  });
  $("approval-filters").elements.namedItem("status").addEventListener("change", () => searchApprovals().catch(approvalsError));
  $("al-more").addEventListener("click", () => approvalPage(approvalList.seq).catch(approvalsError));
  $("a-approve").addEventListener("click", () => decide("approve").catch(decideError));
  $("a-deny").addEventListener("click", () => decide("deny").catch(decideError));
  keyState();
  route();
});
