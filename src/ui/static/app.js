// Verdict's decision explorer: plain browser JavaScript over Verdict's own API, no build step.
// The auditor's key stays in sessionStorage (gone when the tab closes) and travels as
// `Authorization: Bearer`.
"use strict";

const KEY = "verdict.apiKey";
const $ = (id) => document.getElementById(id);
const state = { cursor: null, query: null, chart: null };

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
    throw new Error(res.status === 401 || res.status === 403 ? `${message} (check the API key)` : message);
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

function addRows(decisions) {
  const tbody = $("rows");
  for (const d of decisions) {
    const tr = document.createElement("tr");
    tr.dataset.id = d.id;
    tr.dataset.testid = "decision-row";
    tr.append(
      cell(d.time.replace("T", " ").replace("Z", "")),
      cell(d.decision, `decision-${d.decision}`),
      cell(d.agent),
      cell(d.user ?? "—"),
      cell(`${d.server}/${d.tool}`),
      cell(d.task?.id ?? "—"),
      cell(d.reasons.join(", ")),
    );
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
    dd.textContent = v ?? "—";
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
      ["task", d.task ? JSON.stringify(d.task) : null],
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
  });
  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    search().catch(showError);
  });
  $("more").addEventListener("click", () => loadPage().catch(showError));
  $("close-detail").addEventListener("click", () => ($("detail").hidden = true));
  $("export-jsonl").addEventListener("click", () => exportAs("jsonl").catch(showError));
  $("export-csv").addEventListener("click", () => exportAs("csv").catch(showError));
  keyState();
  search().catch(showError);
});
