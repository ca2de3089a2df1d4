// Verdict's decision explorer: plain browser JavaScript over Verdict's own API, no build step.
// The auditor's key stays in sessionStorage (gone when the tab closes) and travels as
// `Authorization: Bearer`. Two views, chosen by the URL fragment: the decision list (no
// fragment) and one task (`#task=<id>`, the id form-encoded). Records hold strings agents and
// callers chose, so every one reaches the page through textContent, never as markup.
"use strict";

const KEY = "verdict.apiKey";
/** Records per page of the task view. */
const TASK_PAGE = 50;
const $ = (id) => document.getElementById(id);
const state = { cursor: null, query: null, chart: null };
/** The task on view; `seq` drops the answers of a task left before they arrived. */
const task = { id: null, cursor: null, seq: 0 };

function headers() {
  const key = sessionStorage.getItem(KEY);
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function api(path) {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      message = (await res.json()).error.message;
    } catch {
      // not Verdict's error shape
    }
    const e = new Error(res.status === 401 || res.status === 403 ? `${message} (check the API key)` : message);
    e.status = res.status;
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

async function openDetail(id) {
  const info = await (await api(`/v1/audit/decisions/${id}`)).json();
  const d = info.decision;
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

/** Shows the view the fragment names: `#task=<id>` a task, anything else the decision list. */
function route() {
  const id = new URLSearchParams(location.hash.slice(1)).get("task");
  const onTask = id !== null && id !== "";
  $("decisions-view").hidden = onTask;
  $("task-view").hidden = !onTask;
  $("detail").hidden = true;
  if (onTask) {
    openTask(id).catch(taskError);
  } else {
    task.seq++;
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
    search().catch(showError);
    if (!$("task-view").hidden) openTask(task.id).catch(taskError);
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
  keyState();
  route();
  search().catch(showError);
});
