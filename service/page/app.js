"use strict";
// previewd's self-service console.  It uses only the public API, with the
// token the user pasted (kept in this tab's sessionStorage, sent as a Bearer
// header, never put in a URL).  Everything that comes from a request is
// rendered with textContent and createElement, never parsed as HTML.

const $ = sel => document.querySelector(sel);
const TOKEN_KEY = "previewd-token";
const state = {
  info: null,          // GET /v1/info
  me: null,            // GET /v1/whoami: {name, role}
  items: new Map(),    // name -> environment, as the list and the stream give them
  selected: null,      // the environment the detail panel shows
  lastEventId: null,   // the stream's resume point
  live: "none",        // "stream" or "polling"
};

// ---------------------------------------------------------------- the API

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const t = sessionStorage.getItem(TOKEN_KEY);
  if (t) h.Authorization = "Bearer " + t;
  return h;
}

class Problem extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || "HTTP " + status);
    this.status = status;
    this.field = body && typeof body.field === "string" ? body.field : "";
  }
}

async function api(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (method === "POST" && window.crypto && crypto.randomUUID) init.headers["Idempotency-Key"] = crypto.randomUUID();
  const r = await fetch(path, init);
  let doc = null;
  try { doc = await r.json(); } catch (e) { doc = null; }
  if (r.status === 401) showSignIn();
  if (!r.ok) throw new Problem(r.status, doc);
  return doc;
}

// ---------------------------------------------------------------- small helpers

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function left(expires) {
  if (!expires) return "never expires";
  let s = Math.floor((Date.parse(expires) - Date.now()) / 1000);
  if (s <= 0) return "expired";
  const d = Math.floor(s / 86400); s %= 86400;
  const h = Math.floor(s / 3600); s %= 3600;
  const m = Math.floor(s / 60); s %= 60;
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + s + "s";
}

// "90m", "1h30m", "2d" or plain seconds, as the API reads them; NaN if not
function parseDuration(s) {
  s = s.trim();
  if (/^[0-9]+$/.test(s)) return Number(s);
  const m = /^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$/.exec(s);
  if (!s || !m) return NaN;
  return (+(m[1] || 0)) * 86400 + (+(m[2] || 0)) * 3600 + (+(m[3] || 0)) * 60 + (+(m[4] || 0));
}

function canWrite() {
  return state.me && (state.me.role === "writer" || state.me.role === "admin");
}

function notice(text) { $("#notice").textContent = text || ""; }
function fail(err) { $("#error").textContent = err ? String(err.message || err) : ""; }

// Field errors sit next to the field the server's problem names ("values",
// "values.image.tag" or "/values/image": its first segment); "" is the form's.
function fieldError(form, field, text) {
  const key = String(field || "").replace(/^\//, "").split(/[./[]/)[0];
  let slot = form.querySelector('.field-error[data-field="' + CSS.escape(key) + '"]');
  if (!slot) slot = form.querySelector('.field-error[data-field=""]') || $("#error");
  slot.textContent = text;
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach(e => { e.textContent = ""; });
}

// ---------------------------------------------------------------- values

// parseYaml is in yaml.js
function readValues(text, format) {
  if (!text.trim()) return undefined;
  let v;
  if (format === "json") {
    try { v = JSON.parse(text); } catch (e) { throw new Error("not JSON: " + e.message); }
  } else {
    v = parseYaml(text);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("values must be a mapping (an object)");
  return v;
}

// ---------------------------------------------------------------- sign in

function showSignIn() {
  $("#auth").hidden = false;
}

async function whoami() {
  try {
    state.me = await api("GET", "/v1/whoami");
  } catch (e) {
    state.me = null;
    if (e.status === 404) state.me = { name: "anonymous", role: "reader" }; // an older previewd
    else throw e;
  }
  const token = sessionStorage.getItem(TOKEN_KEY);
  $("#who").textContent = (token ? "Signed in as " + state.me.name : "Open mode") + " · role " + state.me.role;
  $("#auth").hidden = true;
  $("#signout").hidden = !token;
  $("#create-section").hidden = !canWrite();
  if (!$("#c-owner").value && state.me.name !== "anonymous") $("#c-owner").value = state.me.name;
}

async function loadInfo() {
  state.info = await api("GET", "/v1/info");
  const sel = $("#c-base");
  sel.replaceChildren(...(state.info.bases || []).map(b => {
    const o = el("option", b);
    o.value = b;
    o.selected = b === state.info.default_base;
    return o;
  }));
  const ttl = state.info.ttl || {};
  $("#c-ttl").placeholder = ttl.default || "";
  $("#c-ttl-hint").textContent = "from " + ttl.min + " to " + ttl.max + (ttl.never_allowed ? ", or never" : "") +
    (ttl.max_lifetime ? "; at most " + ttl.max_lifetime + " in all" : "");
}

// ---------------------------------------------------------------- the list

function visible() {
  const scope = $("#f-scope").value, status = $("#f-status").value;
  const q = $("#f-search").value.trim().toLowerCase();
  return [...state.items.values()].filter(e => {
    const ready = e.argocd && e.argocd.health === "Healthy";
    if (status === "ready" ? !ready : status ? e.status !== status : e.status === "deleted" || e.status === "failed") return false;
    if (scope === "mine" && state.me && e.owner !== state.me.name && e.requested_by !== state.me.name) return false;
    return !q || e.name.toLowerCase().includes(q) || String(e.owner).toLowerCase().includes(q);
  }).sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
}

function statusCell(e) {
  const td = el("td");
  td.appendChild(el("span", e.status, "status " + e.status));
  if (e.argocd && e.argocd.health === "Healthy") td.appendChild(el("b", "ready", "ready"));
  else if (e.argocd && e.argocd.health) td.appendChild(el("small", e.argocd.health, "health"));
  if (e.git && e.git.pending) td.appendChild(el("small", "pushing", "health"));
  if (e.git && e.git.error) td.appendChild(el("div", e.git.error, "git-error"));
  return td;
}

function actionsCell(e) {
  const td = el("td", null, "actions");
  const live = e.status === "pending" || e.status === "active" || e.status === "sleeping";
  if (canWrite() && live) {
    // POST .../wake or .../sleep: a commit of the awake or the sleeping values
    const asleep = e.status === "sleeping";
    const sw = el("button", asleep ? "Wake" : "Sleep");
    sw.type = "button";
    sw.dataset.action = asleep ? "wake" : "sleep";
    sw.addEventListener("click", () => setAsleep(e.name, !asleep));
    td.appendChild(sw);
    [["+4h", 4 * 3600], ["+1d", 86400]].forEach(([label, add]) => {
      const b = el("button", label);
      b.type = "button";
      b.dataset.action = "extend";
      b.addEventListener("click", () => extend(e.name, add));
      td.appendChild(b);
    });
    const del = el("button", "Delete");
    del.type = "button";
    del.dataset.action = "delete";
    del.addEventListener("click", () => remove(e.name));
    td.appendChild(del);
  }
  const ev = el("button", "Events");
  ev.type = "button";
  ev.dataset.action = "events";
  ev.addEventListener("click", () => select(e.name));
  td.appendChild(ev);
  return td;
}

// cost: {per_day, source, saved_by_sleep_last_7d} when previewd has rates
// or OpenCost (the list carries it); "" when the figure is unknown
function money(v) { return typeof v === "number" ? v.toFixed(2) : ""; }
function costCell(e) {
  const td = el("td", e.cost ? money(e.cost.per_day) : "", "cost");
  if (e.cost && e.cost.source) td.title = e.cost.source === "opencost" ? "measured by OpenCost" : "estimated from its requests";
  return td;
}

function render() {
  const rows = visible();
  const costs = rows.some(e => e.cost);
  $("#envs thead th.cost").hidden = !costs;
  $("#envs tbody").replaceChildren(...rows.map(e => {
    const tr = el("tr");
    tr.dataset.name = e.name;
    tr.appendChild(el("td", e.name));
    tr.appendChild(el("td", e.owner));
    tr.appendChild(statusCell(e));
    const url = el("td"), a = el("a", e.url);
    if (/^https?:\/\//.test(e.url)) a.href = e.url;
    url.appendChild(a);
    tr.appendChild(url);
    tr.appendChild(el("td", left(e.expires_at), "left"));
    if (costs) tr.appendChild(costCell(e));
    tr.appendChild(actionsCell(e));
    return tr;
  }));
  const filtered = $("#f-scope").value !== "all" || $("#f-status").value || $("#f-search").value.trim();
  $("#summary").textContent = rows.length + (filtered ? " environment" : " live environment") +
    (rows.length === 1 ? "" : "s") + (filtered ? " shown" : "");
  $("#live").textContent = state.live === "stream" ? "live" : state.live === "polling" ? "refreshing every 5 s" : "";
  renderDetail();
}

async function load() {
  try {
    // pages hold at most 200 (and no values, which the list does not show):
    // follow next_cursor, up to ten pages
    const all = new Map();
    let cursor = null;
    for (let page = 0; page < 10; page++) {
      const body = await api("GET", "/v1/environments?limit=200" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      body.items.forEach(e => all.set(e.name, e));
      if (!(cursor = body.next_cursor)) break;
    }
    // what the stream said meanwhile is newer than a page read before it
    state.items.forEach((e, name) => {
      const listed = all.get(name);
      if (!listed || String(e.updated_at) > String(listed.updated_at)) all.set(name, e);
    });
    state.items = all;
    fail(null);
    render();
  } catch (err) {
    $("#summary").textContent = "Could not load the environments.";
    fail(err);
  }
}

// ---------------------------------------------------------------- actions

async function create(ev) {
  ev.preventDefault();
  const form = $("#create");
  clearErrors(form);
  notice("");
  const owner = $("#c-owner").value.trim(), name = $("#c-name").value.trim(), ttlText = $("#c-ttl").value.trim();
  const body = { owner };
  let bad = false;
  if (!owner) { fieldError(form, "owner", "an owner is needed"); bad = true; }
  const pattern = state.info && state.info.name_rules ? new RegExp(state.info.name_rules.pattern) : null;
  if (name && pattern && !pattern.test(name)) { fieldError(form, "name", "lower-case letters, digits and '-', starting with a letter"); bad = true; }
  if (name) body.name = name;
  if ($("#c-base").value) body.base = $("#c-base").value;
  if (ttlText) {
    const err = ttlProblem(ttlText);
    if (err) { fieldError(form, "ttl", err); bad = true; }
    body.ttl = /^[0-9]+$/.test(ttlText) ? Number(ttlText) : ttlText;
  }
  try {
    const v = readValues($("#c-values").value, $("#c-format").value);
    if (v !== undefined) body.values = v;
  } catch (e) { fieldError(form, "values", e.message); bad = true; }
  if (bad) return;
  $("#c-submit").disabled = true;
  try {
    const env = await api("POST", "/v1/environments", body);
    state.items.set(env.name, env);
    notice("Created " + env.name + " (" + env.status + ")");
    render();
  } catch (e) {
    fieldError(form, e.field, e.message);
  } finally {
    $("#c-submit").disabled = false;
  }
}

// the reason a TTL cannot be asked for, or "" when it is within the limits
function ttlProblem(text) {
  const ttl = (state.info && state.info.ttl) || {};
  if (text === "never") return ttl.never_allowed ? "" : "never-expiring environments are not allowed here";
  const s = parseDuration(text);
  if (isNaN(s)) return "a duration such as 90m, 8h, 2d or 1h30m";
  if (ttl.min_seconds && s < ttl.min_seconds) return "at least " + ttl.min;
  if (ttl.max_seconds && s > ttl.max_seconds) return "at most " + ttl.max;
  return "";
}

async function patchTtl(name, ttl, form) {
  notice("");
  if (form) clearErrors(form);
  try {
    const env = await api("PATCH", "/v1/environments/" + encodeURIComponent(name), { ttl });
    state.items.set(env.name, env);
    notice(env.name + " now expires " + (env.expires_at ? "at " + new Date(env.expires_at).toLocaleString() : "never"));
    render();
  } catch (e) {
    if (form) fieldError(form, "ttl", e.message);
    else fail(e);
  }
}

// +4h / +1d: on top of the time left (the API's ttl counts from now)
function extend(name, add) {
  const e = state.items.get(name);
  const remaining = e && e.expires_at ? Math.max(0, Math.floor((Date.parse(e.expires_at) - Date.now()) / 1000)) : 0;
  const form = state.selected === name ? $("#extend") : null;
  return patchTtl(name, remaining + add, form);
}

async function setAsleep(name, asleep) {
  notice("");
  try {
    const env = await api("POST", "/v1/environments/" + encodeURIComponent(name) + (asleep ? "/sleep" : "/wake"), {});
    if (env && env.name) state.items.set(env.name, env);
    notice(asleep ? name + " is going to sleep" : name + " is waking up");
    render();
  } catch (e) { fail(e); }
}

async function remove(name) {
  if (!window.confirm("Delete " + name + "? Its folder leaves Git and Argo CD removes what runs.")) return;
  notice("");
  try {
    const env = await api("DELETE", "/v1/environments/" + encodeURIComponent(name));
    if (env && env.name) state.items.set(env.name, env);
    notice("Deleting " + name);
    render();
  } catch (e) { fail(e); }
}

// ---------------------------------------------------------------- detail and events

async function select(name) {
  state.selected = name;
  renderDetail();
  $("#detail").scrollIntoView();
  try {
    const path = "/v1/environments/" + encodeURIComponent(name);
    const [env, body] = await Promise.all([api("GET", path), api("GET", path + "/events")]);
    if (state.selected !== name) return;
    $("#d-values").textContent = JSON.stringify(env.values || {}, null, 2);
    $("#events tbody").replaceChildren(...body.items.map(ev => {
      const tr = el("tr");
      tr.dataset.kind = ev.kind;
      tr.appendChild(el("td", ev.at ? new Date(ev.at).toLocaleString() : ""));
      tr.appendChild(el("td", ev.kind));
      tr.appendChild(el("td", ev.actor));
      tr.appendChild(el("td", ev.detail === null ? "" : JSON.stringify(ev.detail), "detail"));
      return tr;
    }));
  } catch (e) { fail(e); }
}

function renderDetail() {
  const name = state.selected, e = name && state.items.get(name);
  $("#detail").hidden = !e;
  if (!e) return;
  $("#d-title").textContent = e.name;
  $("#d-expiry").textContent = e.expires_at ? "Expires " + new Date(e.expires_at).toLocaleString() + " (" + left(e.expires_at) + ")" : "Never expires";
  const ttl = (state.info && state.info.ttl) || {};
  const life = ttl.max_lifetime_seconds && e.created_at ? new Date(Date.parse(e.created_at) + ttl.max_lifetime_seconds * 1000) : null;
  $("#d-lifetime").textContent = "A TTL of at most " + (ttl.max || "?") + " at a time" +
    (life ? "; maximum lifetime " + ttl.max_lifetime + ": not beyond " + life.toLocaleString() : "; no maximum lifetime");
  const c = e.cost;
  $("#d-cost").hidden = !c;
  if (c) {
    $("#d-cost").textContent = (typeof c.per_day === "number"
      ? "Costs ~" + money(c.per_day) + " a day (" + (c.source === "opencost" ? "measured by OpenCost" : "estimated from its requests") + ")"
      : "Its cost cannot be read from its values") +
      (typeof c.saved_by_sleep_last_7d === "number" ? "; sleeping saved " + money(c.saved_by_sleep_last_7d) + " in the last 7 days" : "");
  }
  $("#extend").hidden = !(canWrite() && (e.status === "pending" || e.status === "active" || e.status === "sleeping"));
}

// ---------------------------------------------------------------- live updates

// The stream (GET /v1/environments/stream, Server-Sent Events) read with
// fetch so the token travels in a header; without it, poll every 5 s.
async function stream() {
  let r;
  try {
    r = await fetch("/v1/environments/stream", { headers: headers(state.lastEventId ? { "Last-Event-ID": state.lastEventId } : {}) });
  } catch (e) { r = null; }
  if (!r || !r.ok || !r.body || !/^text\/event-stream/.test(r.headers.get("Content-Type") || "")) {
    // a stream that worked and went away (a restart, a proxy) is tried
    // again; one this previewd does not have is replaced by polling
    if (state.live === "stream" && (!r || r.status !== 404)) return setTimeout(stream, 3000);
    return poll();
  }
  state.live = "stream";
  load(); // what changed before the stream was open
  render();
  const reader = r.body.getReader(), dec = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i).replace(/^\r?\n\r?\n/, "");
        streamEvent(block);
      }
    }
  } catch (e) { /* dropped: resume below */ }
  setTimeout(stream, 1000);
}

function streamEvent(block) {
  let id = null, kind = "message", data = "";
  block.split(/\r?\n/).forEach(line => {
    if (line.startsWith(":")) return;
    const c = line.indexOf(":"), f = c < 0 ? line : line.slice(0, c);
    const v = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
    if (f === "id") id = v;
    else if (f === "event") kind = v;
    else if (f === "data") data += (data ? "\n" : "") + v;
  });
  if (id !== null) state.lastEventId = id;
  if (!data) return;
  try {
    const env = JSON.parse(data);
    if (env && typeof env.name === "string") {
      // the event's own detail is not part of the record the list keeps
      const detail = env.detail;
      delete env.detail;
      state.items.set(env.name, env);
      if (kind === "git_error" && detail && typeof detail.error === "string")
        fail("Git refused the change of " + env.name + ": " + detail.error);
      else if (kind === "git_recovered") {
        fail(null);
        notice("Git took the change of " + env.name + " after all");
      }
    }
    render();
    if (kind && state.selected === env.name) select(env.name);
  } catch (e) { /* not an environment: ignore */ }
}

let pollTimer = null;
function poll() {
  state.live = "polling";
  if (!pollTimer) pollTimer = setInterval(load, 5000);
  render();
}

// ---------------------------------------------------------------- start

async function start() {
  fail(null);
  try {
    await whoami();
    await loadInfo();
  } catch (e) {
    fail(e);
    if (e.status === 401 || e.status === 403) { render(); return false; }
  }
  await load();
  return true;
}

document.addEventListener("DOMContentLoaded", async () => {
  $("#auth").addEventListener("submit", async ev => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    $("#token").value = "";
    if (await start() && state.live === "none") stream();
  });
  $("#signout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.me = null;
    state.items.clear();
    location.reload();
  });
  $("#create").addEventListener("submit", create);
  $("#extend").addEventListener("click", ev => {
    const add = ev.target.dataset && ev.target.dataset.add;
    if (add && state.selected) extend(state.selected, Number(add));
  });
  $("#extend").addEventListener("submit", ev => {
    ev.preventDefault();
    const text = $("#e-ttl").value.trim(), err = ttlProblem(text);
    if (err) return fieldError($("#extend"), "ttl", err);
    patchTtl(state.selected, /^[0-9]+$/.test(text) ? Number(text) : text, $("#extend"));
  });
  $("#d-close").addEventListener("click", () => { state.selected = null; renderDetail(); });
  ["#f-scope", "#f-status", "#f-search"].forEach(s => $(s).addEventListener("input", render));
  $("#filters").addEventListener("submit", ev => ev.preventDefault());
  if (await start()) stream();
  setInterval(() => {
    // the time left ticks; keep the buttons the user may be pressing
    document.querySelectorAll("#envs tbody tr").forEach(tr => {
      const e = state.items.get(tr.dataset.name), td = tr.querySelector("td.left");
      if (e && td) td.textContent = left(e.expires_at);
    });
  }, 1000);
});
