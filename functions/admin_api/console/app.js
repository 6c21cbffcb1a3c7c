// aup-enforcer operators' console: one ES module, no build step, no external URL.
// Served under a strict Content-Security-Policy: no inline script or style, no eval, and no
// innerHTML: every value from the API is put into the page with textContent (evidence is data).

const TOKEN_KEY = "aup-console-token";
const ROLE_RANK = { viewer: 1, operator: 2, admin: 3 };
const NEEDS = { suspend: "operator", reinstate: "operator", void: "operator", review: "operator", export: "operator", allowlist: "admin" };
const SEVERITIES = ["low", "medium", "high", "critical"];
const USAGE_METRICS = ["CPUSeconds", "RequestCount", "EgressBytes", "MemoryPeakMB", "StorageBytes"];
const MAX_PAGES = 20;

const state = { config: null, token: null, me: null, reviewsCache: null };
// Each route() takes the next number; a view whose data arrive after a newer route started renders
// nothing (an early slow page must not paint over the one the operator went to).
let routeSeq = 0;

// ------------------------------------------------------------------------------------------ DOM

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = String(v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

function main() {
  return document.getElementById("main");
}

function render(...nodes) {
  const m = clear(main());
  append(m, nodes);
}

// The accounts it may name in X-Account-Id (W1): none, any ("*"), or a list (cut after ten).
function actsFor(list) {
  if (!Array.isArray(list) || list.length === 0) return "no other account";
  if (list.length === 1 && list[0] === "*") return "any account (X-Account-Id)";
  const shown = list.slice(0, 10).join(", ");
  return list.length > 10 ? `${shown} and ${list.length - 10} more` : shown;
}

function dash(v) {
  return v === undefined || v === null || v === "" ? "–" : String(v);
}

function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/:\d\dZ$/, "Z");
}

function badge(text, cls) {
  return h("span", { class: `badge ${cls || String(text).replace(/[^a-z-]/gi, "")}` }, text);
}

function sev(severity) {
  const v = String(severity || "");
  return h("span", { class: `sev ${SEVERITIES.includes(v) ? v : ""}` }, dash(v));
}

function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

function evidenceDetails(evidence, label) {
  const empty = !evidence || (typeof evidence === "object" && Object.keys(evidence).length === 0);
  if (empty) return h("span", { class: "meta" }, "no evidence recorded");
  return h("details", { class: "evidence" }, h("summary", {}, label || "Evidence"), json(evidence));
}

function banner(message, kind) {
  const b = document.getElementById("banner");
  clear(b);
  if (!message) {
    b.hidden = true;
    return;
  }
  b.className = `banner${kind === "info" ? " info" : ""}`;
  b.append(h("span", { class: "msg" }, message), h("button", { type: "button", "aria-label": "Dismiss", onclick: () => banner(null) }, "×"));
  b.hidden = false;
}

// ------------------------------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(status, body) {
    super(errorText(status, body));
    this.status = status;
    this.body = body;
  }
}

function errorText(status, body) {
  if (body && typeof body === "object") {
    if (status === 403 && body.required) {
      return `Refused (403): this needs the ${body.required} role; you are ${body.role || "not in a group"}.`;
    }
    let msg = String(body.error || body.message || JSON.stringify(body));
    if (Array.isArray(body.errors) && body.errors.length) {
      msg += ": " + body.errors.map((e) => `${(e.loc || []).join(".")} ${e.msg || ""}`.trim()).join("; ");
    }
    return `${status}: ${msg}`;
  }
  return `${status}: ${body || "request failed"}`;
}

async function api(method, path, body, query) {
  const base = (state.config && state.config.apiBase) || "";
  let url = base + path;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") qs.set(k, String(v));
    const text = qs.toString();
    if (text) url += "?" + text;
  }
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const init = { method, headers, credentials: "omit", cache: "no-store" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    headers["X-AUP-Console"] = "1";
    init.body = JSON.stringify(body || {});
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (res.status === 401) {
    signOut("Your session has ended; sign in again.");
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

async function allPages(path, query) {
  const items = [];
  let token = null;
  for (let i = 0; i < MAX_PAGES; i += 1) {
    const page = await api("GET", path, null, { ...query, limit: 200, next_token: token });
    items.push(...((page && page.items) || []));
    token = page && page.next_token;
    if (!token) return { items, more: false };
  }
  return { items, more: true };
}

function can(action) {
  const role = state.me && state.me.role;
  return (ROLE_RANK[role] || 0) >= ROLE_RANK[NEEDS[action]];
}

// A button the role cannot use is disabled with a title saying why; the API is the real check.
function actionButton(label, action, onclick, cls) {
  const allowed = can(action);
  return h(
    "button",
    {
      type: "button",
      class: `btn ${cls || ""}`,
      disabled: !allowed,
      title: allowed ? null : `needs the ${NEEDS[action]} role (you are ${(state.me && state.me.role) || "signed out"})`,
      "data-action": action,
      onclick,
    },
    label,
  );
}

// ------------------------------------------------------------------------------------ reason dialog

function askReason({ title, what, confirmLabel, extra, danger }) {
  const dialog = document.getElementById("reason-dialog");
  const form = document.getElementById("reason-form");
  const text = document.getElementById("reason-text");
  const err = document.getElementById("reason-error");
  const ok = document.getElementById("reason-ok");
  document.getElementById("reason-title").textContent = title;
  document.getElementById("reason-what").textContent = what || "";
  const extraBox = clear(document.getElementById("reason-extra"));
  if (extra) extraBox.append(extra.node);
  ok.textContent = confirmLabel || "Confirm";
  ok.className = `btn ${danger ? "danger" : "primary"}`;
  text.value = "";
  err.hidden = true;
  return new Promise((resolve) => {
    const done = (value) => {
      form.removeEventListener("submit", onSubmit);
      document.getElementById("reason-cancel").removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onSubmit = (ev) => {
      ev.preventDefault();
      const reason = text.value.trim();
      let problem = reason ? null : "A reason is required.";
      let values = {};
      if (!problem && extra) {
        const got = extra.read();
        problem = got.error || null;
        values = got.values || {};
      }
      if (problem) {
        err.textContent = problem;
        err.hidden = false;
        text.focus();
        return;
      }
      done({ reason, ...values });
    };
    const onCancel = (ev) => {
      if (ev) ev.preventDefault();
      done(null);
    };
    form.addEventListener("submit", onSubmit);
    document.getElementById("reason-cancel").addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    text.focus();
  });
}

async function act(promiseFactory, success) {
  try {
    await promiseFactory();
    state.reviewsCache = null;
    await route();
    banner(success, "info");
  } catch (e) {
    banner(e instanceof ApiError ? e.message : `Request failed: ${e.message}`);
  }
}

// ----------------------------------------------------------------------------------------- views

function setNav(name) {
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", a.dataset.nav === name);
    if (a.dataset.nav === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function openReviews() {
  if (!state.reviewsCache) state.reviewsCache = (await reviewsList("open")).items;
  return state.reviewsCache;
}

function reviewsList(status) {
  return allPages("/reviews", { status });
}

function pendingCount(account, reviews) {
  if (typeof account.pending_reviews === "number") return account.pending_reviews;
  return reviews.filter((r) => r.account_id === account.account_id && (r.status || "pending") === "pending").length;
}

async function viewAccounts(params) {
  const mine = routeSeq;
  setNav("accounts");
  const filters = {
    q: params.get("q") || "",
    status: params.get("status") || "",
    plan: params.get("plan") || "",
    allowlisted: params.get("allowlisted") || "",
    pending_reviews: params.get("pending_reviews") || "",
  };
  const [page, reviews] = await Promise.all([allPages("/accounts", filters), openReviews().catch(() => [])]);
  // The API filters; the same filters applied here keep the list right against an API without them.
  const rows = page.items.filter((a) => {
    if (filters.q && !String(a.account_id).toLowerCase().includes(filters.q.toLowerCase())) return false;
    if (filters.status && a.status !== filters.status) return false;
    if (filters.plan && a.plan !== filters.plan) return false;
    if (filters.allowlisted && String(Boolean(a.allowlisted)) !== filters.allowlisted) return false;
    if (filters.pending_reviews && String(pendingCount(a, reviews) > 0) !== filters.pending_reviews) return false;
    return true;
  });
  if (mine !== routeSeq) return;
  const plans = [...new Set(page.items.map((a) => a.plan).concat(filters.plan ? [filters.plan] : []))].sort();

  const search = h("input", { type: "search", id: "f-q", name: "q", value: filters.q, placeholder: "account id contains…" });
  const select = (id, label, value, options) =>
    h(
      "div",
      { class: "field" },
      h("label", { for: id }, label),
      h("select", { id, name: id.slice(2) }, options.map(([v, t]) => h("option", { value: v, selected: v === value }, t))),
    );
  const form = h(
    "form",
    { class: "toolbar", role: "search", "aria-label": "Filter accounts" },
    h("div", { class: "field" }, h("label", { for: "f-q" }, "Search"), search),
    select("f-status", "Status", filters.status, [["", "any"], ["active", "active"], ["suspended", "suspended"]]),
    select("f-plan", "Plan", filters.plan, [["", "any"], ...plans.map((p) => [p, p])]),
    select("f-allowlisted", "Allowlisted", filters.allowlisted, [["", "any"], ["true", "yes"], ["false", "no"]]),
    select("f-pending_reviews", "Pending reviews", filters.pending_reviews, [["", "any"], ["true", "has pending"], ["false", "none"]]),
    h("button", { type: "submit", class: "btn primary" }, "Apply"),
    h("a", { href: "#/accounts", class: "btn" }, "Clear"),
  );
  const apply = (ev) => {
    ev.preventDefault();
    const qs = new URLSearchParams();
    for (const el of form.querySelectorAll("input, select")) if (el.value) qs.set(el.name, el.value);
    const text = qs.toString();
    location.hash = `#/accounts${text ? "?" + text : ""}`;
  };
  form.addEventListener("submit", apply);
  for (const el of form.querySelectorAll("select")) el.addEventListener("change", apply);

  const table = h(
    "table",
    { class: "grid", "aria-label": "Accounts" },
    h(
      "thead",
      {},
      h("tr", {}, ["Account", "Plan", "Status", "Suspension", "Strikes", "Pending reviews", "Flags"].map((t, i) =>
        h("th", { scope: "col", class: i === 4 || i === 5 ? "num" : "" }, t))),
    ),
    h(
      "tbody",
      {},
      rows.map((a) => {
        const sus = a.suspension;
        const pending = pendingCount(a, reviews);
        return h(
          "tr",
          { "data-account": a.account_id },
          h("td", {}, h("a", { href: `#/accounts/${encodeURIComponent(a.account_id)}` }, a.account_id)),
          h("td", {}, dash(a.plan)),
          h("td", {}, badge(a.status)),
          h("td", { class: "meta" }, sus ? `${sus.kind}${sus.until ? " until " + when(sus.until) : ""} · ${dash(sus.clause || sus.rule_id)}` : "–"),
          h("td", { class: "num" }, dash(a.strikes)),
          h("td", { class: "num" }, pending ? h("a", { href: "#/reviews" }, String(pending)) : "0"),
          h("td", {}, a.allowlisted ? badge("allowlisted") : null, " ", a.dry_run ? badge("dry-run") : null),
        );
      }),
    ),
  );
  render(
    h("h1", {}, "Accounts"),
    form,
    h("p", { class: "count" }, `${rows.length} account${rows.length === 1 ? "" : "s"}${page.more ? " (first pages only: narrow the filters)" : ""}`),
    rows.length ? table : h("div", { class: "panel empty" }, "No account matches these filters."),
  );
}

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
}

async function viewAccount(id) {
  const mine = routeSeq;
  setNav("accounts");
  const enc = encodeURIComponent(id);
  const [account, violations, audit] = await Promise.all([
    api("GET", `/accounts/${enc}`),
    allPages(`/accounts/${enc}/violations`),
    api("GET", `/accounts/${enc}/audit`).then((a) => (a && a.items) || []),
  ]);
  if (mine !== routeSeq) return;
  const sus = account.suspension;
  const actions = h(
    "div",
    { class: "actions" },
    account.status === "suspended"
      ? actionButton("Reinstate", "reinstate", () => reinstate(id), "primary")
      : actionButton("Suspend…", "suspend", () => suspend(id), "danger"),
    actionButton(account.allowlisted ? "Remove from allowlist" : "Allowlist", "allowlist", () => allowlist(id, !account.allowlisted)),
    actionButton("Export evidence", "export", () => exportBundle(id)),
  );
  const header = h(
    "section",
    { class: "panel pad" },
    h(
      "div",
      { class: "head-row" },
      h("h1", {}, h("span", { class: "mono" }, id), badge(account.status), account.allowlisted ? badge("allowlisted") : null, account.dry_run ? badge("dry-run") : null),
      actions,
    ),
    facts([
      ["Plan", dash(account.plan)],
      ["Strikes", h("span", { id: "strikes" }, dash(account.strikes))],
      ["Violations", String(violations.items.length) + (violations.more ? "+" : "")],
      ["Voided", String(violations.items.filter((v) => v.voided).length)],
      ["Registered", account.registered === false ? "no (seen in a finding)" : "yes"],
      ["Acts for", actsFor(account.acts_for)],
      ["Version", dash(account.version)],
    ]),
    sus
      ? h(
          "div",
          { class: "panel pad suspension", "aria-label": "Current suspension" },
          facts([
            ["Suspension", `${sus.kind}`],
            ["Since", when(sus.since)],
            ["Until", sus.until ? when(sus.until) : "indefinite (an operator lifts it)"],
            ["Clause / rule", `${dash(sus.clause)} / ${dash(sus.rule_id)}`],
            ["Decided by", dash(sus.decided_by)],
            ["Policy", dash(sus.policy_version)],
          ]),
          h("p", { class: "why" }, "Reason: ", sus.reason || "–"),
        )
      : null,
  );
  const usageBox = h("section", { class: "panel pad chart", "aria-label": "Usage against the plan limit" });
  render(
    h("p", { class: "crumbs" }, h("a", { href: "#/accounts" }, "← Accounts")),
    header,
    h(
      "div",
      { class: "charts" },
      h("section", { class: "panel pad chart", "aria-label": "Findings over time" }, h("h3", {}, "Findings over time"), findingsChart(violations.items)),
      usageBox,
    ),
    h("h2", {}, "Timeline"),
    timeline(id, account, violations.items, audit),
  );
  loadUsage(usageBox, id, USAGE_METRICS[0]);
}

function timeline(id, account, violations, audit) {
  const entries = [];
  for (const v of violations) {
    entries.push({ at: v.detected_at, kind: "violation", v });
  }
  for (const a of audit) entries.push({ at: a.at, kind: "audit", a });
  const sus = account.suspension;
  if (sus && sus.until) entries.push({ at: sus.until, kind: "end", sus });
  entries.sort((x, y) => String(y.at).localeCompare(String(x.at)));
  if (!entries.length) return h("div", { class: "panel empty" }, "Nothing recorded for this account yet.");
  return h(
    "ol",
    { class: "timeline panel", "aria-label": "Timeline, newest first" },
    entries.map((e) => {
      if (e.kind === "violation") return violationItem(id, e.v);
      if (e.kind === "audit") return auditItem(e.a);
      return h(
        "li",
        { class: "end" },
        h("div", { class: "when" }, when(e.at)),
        h("div", { class: "dotcol" }, h("div", { class: "pip end" })),
        h("div", { class: "what" }, h("div", { class: "line1" }, h("span", { class: "title" }, `Temporary suspension ${new Date(e.at) > new Date() ? "ends" : "ended"}`), h("span", { class: "meta" }, `imposed ${when(e.sus.since)} by ${dash(e.sus.decided_by)}`))),
      );
    }),
  );
}

function violationItem(accountId, v) {
  const severity = String(v.severity || "");
  return h(
    "li",
    { class: `violation${v.voided ? " is-voided" : ""}`, "data-violation": v.violation_id },
    h("div", { class: "when" }, when(v.detected_at)),
    h("div", { class: "dotcol" }, h("div", { class: `pip violation sev-${severity}` })),
    h(
      "div",
      { class: "what" },
      h(
        "div",
        { class: "line1" },
        h("span", { class: "title" }, `${dash(v.clause)} · ${dash(v.rule_id)}`),
        sev(severity),
        h("span", { class: "meta" }, `confidence ${dash(v.confidence)} · ${dash(v.source)} · decision `),
        badge(dash(v.decision), "decision"),
        v.voided ? badge("voided") : null,
        !v.voided ? actionButton("Void…", "void", () => voidViolation(accountId, v), "small danger") : null,
      ),
      v.summary ? h("div", {}, v.summary) : null,
      h("div", { class: "meta" }, `violation ${v.violation_id} · policy ${dash(v.policy_version)} · recorded ${when(v.recorded_at)}`),
      evidenceDetails(v.evidence),
    ),
  );
}

function auditItem(a) {
  const suspends = a.to_status === "suspended" && a.from_status !== "suspended";
  const lifts = a.from_status === "suspended" && a.to_status === "active";
  return h(
    "li",
    { class: "audit" },
    h("div", { class: "when" }, when(a.at)),
    h("div", { class: "dotcol" }, h("div", { class: `pip ${suspends ? "suspend" : lifts ? "end" : "audit"}` })),
    h(
      "div",
      { class: "what" },
      h(
        "div",
        { class: "line1" },
        h("span", { class: "title" }, dash(a.action)),
        a.from_status || a.to_status ? h("span", {}, dash(a.from_status), h("span", { class: "arrow" }, " → "), dash(a.to_status)) : null,
        h("span", { class: "meta" }, `by ${dash(a.actor)}`),
      ),
      h("div", {}, "Why: ", dash(a.reason)),
      h("div", { class: "meta" }, `policy ${dash(a.policy_version)}${a.violation_id ? " · violation " + a.violation_id : ""} · version ${dash(a.version)}`),
    ),
  );
}

// ------------------------------------------------------------------------------------------ charts

const W = 560;
const H = 180;
const PAD = { l: 40, r: 12, t: 10, b: 26 };

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function yAxis(svg, max, fmt) {
  const inner = H - PAD.t - PAD.b;
  for (let i = 0; i <= 4; i += 1) {
    const y = PAD.t + inner - (inner * i) / 4;
    svg.append(s("line", { class: "gridline", x1: PAD.l, x2: W - PAD.r, y1: y, y2: y }));
    svg.append(s("text", { x: PAD.l - 6, y: y + 3, "text-anchor": "end" }, fmt((max * i) / 4)));
  }
  svg.append(s("line", { class: "axis", x1: PAD.l, x2: W - PAD.r, y1: H - PAD.b, y2: H - PAD.b }));
}

function fmtNum(v) {
  if (Math.abs(v) >= 1e9) return (v / 1e9).toFixed(1).replace(/\.0$/, "") + "G";
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
  if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(1).replace(/\.0$/, "") + "k";
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function findingsChart(violations) {
  const times = violations.map((v) => new Date(v.detected_at).getTime()).filter((t) => !Number.isNaN(t));
  if (!times.length) return h("p", { class: "muted" }, "No findings recorded.");
  const lo = Math.min(...times);
  const hi = Math.max(...times);
  const span = hi - lo;
  const bucket = span <= 6 * 3600e3 ? 15 * 60e3 : span <= 3 * 86400e3 ? 3600e3 : 86400e3;
  // At least 12 buckets, the data at the right: one burst reads as a burst, not as a wall.
  const last = Math.floor(hi / bucket) * bucket;
  const n = Math.max(12, Math.min(60, Math.floor((last - Math.floor(lo / bucket) * bucket) / bucket) + 1));
  const start = last - (n - 1) * bucket;
  const counts = Array.from({ length: n }, () => ({ low: 0, medium: 0, high: 0, critical: 0, voided: 0 }));
  for (const v of violations) {
    const t = new Date(v.detected_at).getTime();
    const i = Math.min(n - 1, Math.max(0, Math.floor((t - start) / bucket)));
    const k = v.voided ? "voided" : SEVERITIES.includes(v.severity) ? v.severity : "medium";
    counts[i][k] += 1;
  }
  const max = Math.max(4, Math.ceil(Math.max(...counts.map((c) => c.low + c.medium + c.high + c.critical + c.voided)) / 4) * 4);
  const label = `${violations.length} findings between ${when(new Date(lo).toISOString())} and ${when(new Date(hi).toISOString())}`;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "findings-chart" }, s("title", {}, label));
  yAxis(svg, max, (v) => (Number.isInteger(v) ? String(v) : ""));
  const inner = W - PAD.l - PAD.r;
  const bw = inner / n;
  counts.forEach((c, i) => {
    let y = H - PAD.b;
    for (const k of [...SEVERITIES, "voided"]) {
      if (!c[k]) continue;
      const bh = ((H - PAD.t - PAD.b) * c[k]) / max;
      y -= bh;
      const width = Math.max(1, Math.min(bw * 0.7, 26));
      const rect = s("rect", { class: `bar-${k}`, x: PAD.l + i * bw + (bw - width) / 2, y, width, height: bh });
      rect.append(s("title", {}, `${when(new Date(start + i * bucket).toISOString())}: ${c[k]} ${k}`));
      svg.append(rect);
    }
  });
  const ticks = Math.min(n, 5);
  for (let j = 0; j < ticks; j += 1) {
    const i = Math.round((j * (n - 1)) / Math.max(1, ticks - 1));
    const d = new Date(start + i * bucket).toISOString();
    const text = bucket >= 86400e3 ? d.slice(5, 10) : (i === 0 || j === ticks - 1 ? d.slice(5, 10) + " " : "") + d.slice(11, 16);
    svg.append(s("text", { x: PAD.l + i * bw + bw / 2, y: H - 8, "text-anchor": "middle" }, text));
  }
  const unit = bucket >= 86400e3 ? "day" : bucket >= 3600e3 ? "hour" : "15 minutes";
  return h(
    "div",
    {},
    svg,
    h("div", { class: "legend" }, [...SEVERITIES, "voided"].map((k) => h("span", {}, h("span", { class: `swatch ${k}` }), k)), h("span", {}, `per ${unit}, UTC`)),
  );
}

async function loadUsage(box, id, metric) {
  const picker = h(
    "select",
    { id: "usage-metric", "aria-label": "Usage metric" },
    USAGE_METRICS.map((m) => h("option", { value: m, selected: m === metric }, m)),
  );
  picker.addEventListener("change", () => loadUsage(box, id, picker.value));
  clear(box).append(h("h3", {}, h("span", {}, "Usage against the plan limit"), picker), h("p", { class: "muted" }, "Loading…"));
  try {
    const data = await api("GET", `/accounts/${encodeURIComponent(id)}/usage`, null, { metric });
    box.lastChild.replaceWith(usageChart(data || {}));
  } catch (e) {
    box.lastChild.replaceWith(h("p", { class: "muted" }, e instanceof ApiError && e.status === 404 ? "No usage series for this account." : `Usage unavailable (${e.message}).`));
  }
}

function usageChart(data) {
  const points = (data.points || []).map((p) => ({ t: new Date(p.t).getTime(), v: Number(p.v) })).filter((p) => !Number.isNaN(p.t) && Number.isFinite(p.v));
  points.sort((a, b) => a.t - b.t);
  const limit = typeof data.limit === "number" ? data.limit : null;
  const unit = data.unit ? ` ${data.unit}` : "";
  if (!points.length) return h("p", { class: "muted" }, `No ${dash(data.metric)} data points in the window${limit !== null ? ` (plan limit ${fmtNum(limit)}${unit})` : ""}.`);
  const lo = points[0].t;
  const hi = Math.max(points[points.length - 1].t, lo + 1);
  const factor = typeof data.factor === "number" && data.factor > 1 && limit !== null ? data.factor : null;
  const top = niceMax(Math.max(...points.map((p) => p.v), (limit || 0) * (factor || 1)) * 1.1);
  const over = points.filter((p) => limit !== null && p.v > limit).length;
  const label = `${dash(data.metric)}: ${points.length} points, max ${fmtNum(Math.max(...points.map((p) => p.v)))}${unit}${limit !== null ? `, plan limit ${fmtNum(limit)}${unit}, ${over} over it` : ", no plan limit"}`;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "usage-chart" }, s("title", {}, label));
  yAxis(svg, top, fmtNum);
  const x = (t) => PAD.l + ((W - PAD.l - PAD.r) * (t - lo)) / (hi - lo);
  const y = (v) => H - PAD.b - ((H - PAD.t - PAD.b) * v) / top;
  const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
  svg.append(s("path", { class: "area", d: `${d} L${x(hi).toFixed(1)},${H - PAD.b} L${x(lo).toFixed(1)},${H - PAD.b} Z` }));
  svg.append(s("path", { class: "series", d }));
  for (const p of points) {
    const dot = s("circle", { class: `dot${limit !== null && p.v > limit ? " over" : ""}`, cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 2.6 });
    dot.append(s("title", {}, `${when(new Date(p.t).toISOString())}: ${fmtNum(p.v)}${unit}`));
    svg.append(dot);
  }
  if (limit !== null) {
    svg.append(s("line", { class: "limit", x1: PAD.l, x2: W - PAD.r, y1: y(limit), y2: y(limit) }));
    svg.append(s("text", { class: "limit-label", x: W - PAD.r, y: y(limit) - 4, "text-anchor": "end" }, `plan limit ${fmtNum(limit)}${unit}`));
    if (factor) {
      const acts = limit * factor;
      svg.append(s("line", { class: "limit acts", x1: PAD.l, x2: W - PAD.r, y1: y(acts), y2: y(acts) }));
      svg.append(s("text", { class: "limit-label", x: PAD.l + 4, y: y(acts) - 4 }, `the monitor acts at ${fmtNum(factor)}× (${fmtNum(acts)}${unit})`));
    }
  }
  for (const t of [lo, (lo + hi) / 2, hi]) {
    svg.append(s("text", { x: x(t), y: H - 8, "text-anchor": t === lo ? "start" : t === hi ? "end" : "middle" }, new Date(t).toISOString().slice(11, 16)));
  }
  return h(
    "div",
    {},
    svg,
    h("div", { class: "legend" }, h("span", {}, h("span", { class: "swatch series" }), `${dash(data.metric)}${unit}`), limit !== null ? h("span", {}, h("span", { class: "swatch limit" }), "plan limit") : h("span", {}, "no plan limit"), h("span", {}, `${over} point${over === 1 ? "" : "s"} over the limit · UTC`)),
  );
}

// ------------------------------------------------------------------------------------------ actions

function untilField() {
  const input = h("input", { type: "datetime-local", id: "reason-until", step: 60 });
  const node = h(
    "div",
    {},
    h("label", { for: "reason-until" }, "Ends (UTC) ", h("span", { class: "req" }, "(empty: indefinite, until an operator lifts it)")),
    input,
  );
  return {
    node,
    read() {
      if (!input.value) return { values: {} };
      const d = new Date(input.value + "Z");
      if (Number.isNaN(d.getTime())) return { error: "The end is not a date and time." };
      if (d <= new Date()) return { error: "The end must be in the future." };
      return { values: { until: d.toISOString() } };
    },
  };
}

async function suspend(id) {
  const got = await askReason({ title: `Suspend ${id}`, what: "The account's API keys are denied from the next request.", confirmLabel: "Suspend", danger: true, extra: untilField() });
  if (!got) return;
  const body = { reason: got.reason };
  if (got.until) body.until = got.until;
  await act(() => api("POST", `/accounts/${encodeURIComponent(id)}/suspend`, body), `${id} suspended.`);
}

async function reinstate(id) {
  const got = await askReason({ title: `Reinstate ${id}`, what: "Lifts the suspension; the audit trail records you and the reason.", confirmLabel: "Reinstate" });
  if (!got) return;
  await act(() => api("POST", `/accounts/${encodeURIComponent(id)}/reinstate`, { reason: got.reason }), `${id} reinstated.`);
}

async function allowlist(id, on) {
  const got = await askReason({ title: on ? `Allowlist ${id}` : `Remove ${id} from the allowlist`, what: on ? "Findings on an allowlisted account go to review instead of the ladder." : "Findings go up the ladder again.", confirmLabel: on ? "Allowlist" : "Remove" });
  if (!got) return;
  await act(() => api("PUT", `/accounts/${encodeURIComponent(id)}/allowlist`, { allowlisted: on, reason: got.reason }), on ? `${id} allowlisted.` : `${id} removed from the allowlist.`);
}

async function voidViolation(id, v) {
  const got = await askReason({ title: "Void this violation", what: `${v.clause} · ${v.rule_id} (${v.violation_id}): its strike goes and a suspension resting on it is lifted.`, confirmLabel: "Void", danger: true });
  if (!got) return;
  await act(() => api("POST", `/accounts/${encodeURIComponent(id)}/violations/${encodeURIComponent(v.violation_id)}/void`, { reason: got.reason }), "Violation voided.");
}

async function exportBundle(id) {
  try {
    const bundle = await api("GET", `/accounts/${encodeURIComponent(id)}/export`);
    const blob = new Blob([JSON.stringify(bundle, null, 2)], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: `${id}.evidence.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    const hash = bundle && bundle.manifest && bundle.manifest.bundle_sha256;
    banner(`Evidence bundle of ${id} downloaded${hash ? ` (bundle SHA-256 ${hash})` : ""}. Verify it with: aupctl accounts export --verify ${id}.evidence.json`, "info");
  } catch (e) {
    banner(e instanceof ApiError ? e.message : `Export failed: ${e.message}`);
  }
}

async function decide(review, decision) {
  const labels = { confirm: "Confirm", dismiss: "Dismiss", void: "Void" };
  const what = {
    confirm: "The ladder then applies to the finding (allowlisted or not: it is a human decision).",
    dismiss: "The finding is closed without action.",
    void: "The finding was wrong: the review is closed and its violation voided (no strike).",
  }[decision];
  const got = await askReason({ title: `${labels[decision]} review of ${review.account_id}`, what, confirmLabel: labels[decision], danger: decision !== "dismiss" && decision !== "confirm" });
  if (!got) return;
  // void: the review is dismissed and its violation voided, both audited with the reason.
  await act(() => api("POST", `/reviews/${encodeURIComponent(review.review_id)}`, { decision, reason: got.reason }), `Review ${labels[decision].toLowerCase()}ed.`);
}

// ------------------------------------------------------------------------------------------ reviews

async function viewReviews(params) {
  const mine = routeSeq;
  setNav("reviews");
  const status = ["open", "decided", "all"].includes(params.get("status")) ? params.get("status") : "open";
  const [page, accounts] = await Promise.all([reviewsList(status), allPages("/accounts").catch(() => ({ items: [] }))]);
  if (mine !== routeSeq) return;
  const byId = new Map(accounts.items.map((a) => [a.account_id, a]));
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": "Review status" },
    ["open", "decided", "all"].map((t) => h("a", { href: `#/reviews?status=${t}`, class: t === status ? "active" : "", "aria-current": t === status ? "page" : null }, t)),
  );
  const items = page.items.slice().sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
  render(
    h("h1", {}, "Review queue"),
    tabs,
    h("p", { class: "count" }, `${items.length} review${items.length === 1 ? "" : "s"}`),
    items.length ? h("div", { class: "reviews" }, items.map((r) => reviewCard(r, r.account || byId.get(r.account_id)))) : h("div", { class: "panel empty" }, status === "open" ? "The queue is empty." : "No reviews."),
  );
}

function reviewCard(r, account) {
  // The API's review details carry rule, clause, severity, confidence, summary and evidence at the
  // top level; the finding holds the same as detected.
  const finding = r.finding || {};
  const f = {
    ...finding,
    rule_id: r.rule_id || finding.rule_id,
    clause: r.clause || finding.clause,
    severity: r.severity || finding.severity,
    confidence: r.confidence ?? finding.confidence,
    summary: r.summary || finding.summary,
    evidence: r.evidence && Object.keys(r.evidence).length ? r.evidence : finding.evidence,
  };
  const pending = (r.status || "pending") === "pending";
  const ctx = account
    ? `${account.status} · plan ${dash(account.plan)} · ${dash(account.strikes)} strike${account.strikes === 1 ? "" : "s"}${account.allowlisted ? " · allowlisted" : ""}${account.suspension ? ` · ${account.suspension.kind} suspension` : ""}`
    : "account context unavailable";
  return h(
    "article",
    { class: "panel review", "data-review": r.review_id, "aria-label": `Review of ${r.account_id}` },
    h(
      "div",
      { class: "head-row" },
      h(
        "h3",
        {},
        h("a", { href: `#/accounts/${encodeURIComponent(r.account_id)}`, class: "mono" }, r.account_id),
        h("span", {}, `${dash(f.clause)} · ${dash(f.rule_id)}`),
        f.severity ? sev(f.severity) : null,
        badge(dash(r.status || "pending")),
      ),
      pending
        ? h(
            "div",
            { class: "actions" },
            actionButton("Confirm…", "review", () => decide(r, "confirm"), "primary"),
            actionButton("Dismiss…", "review", () => decide(r, "dismiss")),
            actionButton("Void…", "review", () => decide(r, "void"), "danger"),
          )
        : null,
    ),
    h("p", { class: "context" }, "Account: ", ctx),
    h(
      "p",
      { class: "meta" },
      `confidence ${dash(f.confidence)} · ${dash(f.source)} · detected ${when(f.detected_at)} · queued ${when(r.created_at)} · violation `,
      h("span", { class: "mono" }, dash(r.violation_id)),
    ),
    h("p", { class: "why" }, h("b", {}, f.summary || "Finding"), " — why a review: ", dash(r.reason)),
    // Later findings of the same rule on the account, folded into this review while it waits.
    r.repeats
      ? h(
          "p",
          { class: "repeats" },
          `Seen again ${r.repeats} time${r.repeats === 1 ? "" : "s"} since it was queued; the latest ${when(r.last_seen_at)}, violation `,
          h("span", { class: "mono" }, dash(r.last_violation_id)),
        )
      : null,
    !pending ? h("p", { class: "meta" }, `Decided ${when(r.decided_at)} by ${dash(r.decided_by)}: ${dash(r.decision_reason)}`) : null,
    evidenceDetails(f.evidence),
  );
}

// ------------------------------------------------------------------------------------------ reports

async function viewReports() {
  const mine = routeSeq;
  setNav("reports");
  const data = await api("GET", "/reports");
  if (mine !== routeSeq) return;
  const items = Array.isArray(data) ? data : (data && data.items) || [];
  // The report item keeps its fields as sets (lists): one value each in practice.
  const one = (v) => (Array.isArray(v) ? v.join(", ") : v === undefined || v === null ? "–" : typeof v === "object" ? JSON.stringify(v) : String(v));
  const cols = [
    ["Detected", (it) => when(it.detected_at || (it.report && one(it.report.detected_at)))],
    ["Account", (it) => (it.account_id ? h("a", { href: `#/accounts/${encodeURIComponent(it.account_id)}` }, it.account_id) : "–")],
    ["Clause · rule", (it) => `${dash(it.clause)} · ${dash(it.rule_id)}`],
    ["Decision", (it) => dash(it.decision)],
    ["Bank", (it) => (it.report ? `${one(it.report.bank)}${it.report.list_version ? " v" + one(it.report.list_version) : ""}` : "–")],
    ["Object → quarantine", (it) => (it.report ? h("span", { class: "mono" }, one(it.report.object), h("br"), "→ ", one(it.report.quarantine)) : "–")],
    ["SHA-256", (it) => h("span", { class: "mono" }, it.report ? one(it.report.sha256) : "–")],
    ["Filed", (it) => (it.report && Number(it.report.pending) > 0 ? badge("pending") : it.report ? badge("filed", "confirmed") : "–")],
  ];
  render(
    h("h1", {}, "Mandatory reports"),
    h("p", { class: "muted" }, "Known illegal material (I2, W4) is quarantined and reported to the authorities as the law requires; each report is kept in the ledger. Export the account's evidence bundle from its page."),
    items.length
      ? h(
          "table",
          { class: "grid", "aria-label": "Mandatory reports" },
          h("thead", {}, h("tr", {}, cols.map(([c]) => h("th", { scope: "col" }, c)))),
          h(
            "tbody",
            {},
            items.map((it) => [
              h("tr", { class: "has-detail", "data-violation": it.violation_id }, cols.map(([, f]) => h("td", {}, f(it)))),
              h("tr", { class: "detail" }, h("td", { colspan: cols.length }, evidenceDetails(it, "Full record"))),
            ]),
          ),
        )
      : h("div", { class: "panel empty" }, "No mandatory reports."),
  );
}

// ------------------------------------------------------------------------------------------ sign-in

function signOut(message) {
  state.token = null;
  state.me = null;
  state.reviewsCache = null;
  sessionStorage.removeItem(TOKEN_KEY);
  renderWho();
  viewSignIn(message);
}

function viewSignIn(message) {
  document.querySelector(".nav").hidden = true;
  const user = h("input", { type: "text", id: "si-user", name: "username", autocomplete: "username", required: true });
  const pass = h("input", { type: "password", id: "si-pass", name: "password", autocomplete: "current-password", required: true });
  const err = h("p", { class: "field-error", role: "alert", hidden: !message }, message || "");
  const cognito = state.config && state.config.cognito;
  const form = h(
    "form",
    { class: "panel signin", "aria-label": "Sign in" },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "Operators sign in with their user pool account (groups viewer, operator, admin)."),
    h("div", { class: "field" }, h("label", { for: "si-user" }, "Username"), user),
    h("div", { class: "field" }, h("label", { for: "si-pass" }, "Password"), pass),
    err,
    h("button", { type: "submit", class: "btn primary", disabled: !(cognito && cognito.endpoint && cognito.clientId) }, "Sign in"),
    state.config && state.config.local ? h("p", { class: "muted" }, "Local stack: ", h("code", {}, "aupctl console --as operator"), " prints a signed-in link.") : null,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    if (!user.value || !pass.value) {
      err.textContent = "Username and password are required.";
      err.hidden = false;
      return;
    }
    try {
      const token = await initiateAuth(cognito, user.value, pass.value);
      pass.value = "";
      await signIn(token);
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    }
  });
  render(form);
  user.focus();
}

async function initiateAuth(cognito, username, password) {
  const res = await fetch(cognito.endpoint, {
    method: "POST",
    credentials: "omit",
    cache: "no-store",
    headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth" },
    body: JSON.stringify({ AuthFlow: "USER_PASSWORD_AUTH", ClientId: cognito.clientId, AuthParameters: { USERNAME: username, PASSWORD: password } }),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.message || data.__type || `sign-in failed (${res.status})`);
  if (data.ChallengeName) throw new Error(`Cognito asks for ${data.ChallengeName}; complete it with the hosted UI or the CLI first.`);
  const token = data.AuthenticationResult && data.AuthenticationResult.IdToken;
  if (!token) throw new Error("Cognito returned no token.");
  return token;
}

async function signIn(token) {
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  state.me = await api("GET", "/whoami");
  renderWho();
  if (!location.hash || location.hash === "#" || location.hash === "#/") location.hash = "#/accounts";
  else await route();
}

function renderWho() {
  const who = clear(document.getElementById("who"));
  document.querySelector(".nav").hidden = !state.me;
  if (!state.me) return;
  who.append(
    h("span", { class: "actor", id: "whoami-actor", title: "signed in as" }, dash(state.me.actor)),
    badge(dash(state.me.role), "role"),
    h("button", { type: "button", class: "btn small", onclick: () => signOut("Signed out.") }, "Sign out"),
  );
}

// ------------------------------------------------------------------------------------------ router

async function route() {
  if (!state.me) return;
  const mine = ++routeSeq;
  const hash = location.hash.replace(/^#/, "") || "/accounts";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "accounts" && parts.length === 2) await viewAccount(parts[1]);
    else if (parts[0] === "reviews") await viewReviews(params);
    else if (parts[0] === "reports") await viewReports();
    else await viewAccounts(params);
    if (mine === routeSeq) document.title = `${parts[0] === "accounts" && parts[1] ? parts[1] + " · " : ""}aup-enforcer console`;
  } catch (e) {
    if ((e instanceof ApiError && e.status === 401) || mine !== routeSeq) return;
    render(h("h1", {}, "Could not load this page"), h("div", { class: "panel pad" }, e instanceof ApiError ? e.message : String(e.message || e)));
  }
}

function tokenFromFragment() {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, "", location.pathname + location.search + "#/accounts");
  return decodeURIComponent(m[1]);
}

async function start() {
  const fragmentToken = tokenFromFragment();
  try {
    const res = await fetch("config.json", { cache: "no-store", credentials: "omit" });
    state.config = res.ok ? await res.json() : { apiBase: "" };
  } catch {
    state.config = { apiBase: "" };
  }
  const token = fragmentToken || sessionStorage.getItem(TOKEN_KEY);
  window.addEventListener("hashchange", () => {
    banner(null);
    route();
  });
  if (!token) return viewSignIn();
  try {
    await signIn(token);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) signOut(e.message);
  }
}

start();
