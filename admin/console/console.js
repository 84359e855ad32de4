// Parley's admin console: plain DOM over the JSON admin API (/admin/api/).
// No framework, no inline script (the page's CSP forbids it), no other
// origin. Every change sends the session's CSRF token.
"use strict";

const api = "/admin/api/";
let csrf = "";
let domain = "";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

function notice(text, bad) {
  const n = $("#notice");
  n.textContent = text;
  n.className = bad ? "bad" : "good";
  n.hidden = !text;
}

// call sends one API request; it throws the API's error message.
async function call(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET") {
    opts.headers["X-Parley-CSRF"] = csrf;
  }
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(api + path, opts);
  if (resp.status === 401 && path !== "login") {
    showLogin();
    throw new Error("your session ended: log in again");
  }
  const ct = resp.headers.get("Content-Type") || "";
  if (!resp.ok) {
    let msg = resp.status + " " + resp.statusText;
    if (ct.startsWith("application/json")) {
      const e = await resp.json();
      msg = (e.field ? e.field + ": " : "") + e.error;
    }
    throw new Error(msg);
  }
  return ct.startsWith("application/json") ? resp.json() : resp;
}

// run does an action, then says what happened and refreshes the tab.
async function run(what, fn) {
  try {
    await fn();
    notice(what);
    await refresh();
  } catch (e) {
    notice(e.message, true);
  }
}

// list splits a comma-separated list of users; an item that starts with
// group: (a directory group's DN has commas) runs to the end.
function list(v) {
  const out = [];
  let rest = v.trim();
  while (rest !== "") {
    if (rest.startsWith("group:")) {
      out.push(rest);
      break;
    }
    const i = rest.indexOf(",");
    const item = (i < 0 ? rest : rest.slice(0, i)).trim();
    if (item !== "") out.push(item);
    rest = i < 0 ? "" : rest.slice(i + 1).trim();
  }
  return out;
}

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  tr.appendChild(td);
  return td;
}

function button(td, label, fn) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", fn);
  td.appendChild(b);
  return b;
}

function fill(table, rows, render) {
  const body = $("tbody", table);
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    render(tr, r);
    body.appendChild(tr);
  }
}

function pairs(table, rows) {
  fill(table, rows, (tr, [k, v]) => { cell(tr, k); cell(tr, v); });
}

// ---- Login.

function showLogin() {
  $("#main-view").hidden = true;
  $("#logout").hidden = true;
  $("#whoami").textContent = "";
  $("#login-view").hidden = false;
  $("#login-user").focus();
}

async function showMain(who) {
  csrf = who.csrf;
  domain = who.domain;
  $("#whoami").textContent = who.user;
  $("#logout").hidden = false;
  if (!who.admin) {
    $("#login-view").hidden = false;
    notice(who.user + " is not an administrator of " + who.domain, true);
    return;
  }
  $("#login-view").hidden = true;
  $("#main-view").hidden = false;
  await refresh();
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const who = await call("POST", "login", { user: $("#login-user").value, password: $("#login-password").value });
    $("#login-password").value = "";
    notice("");
    await showMain(who);
  } catch (e) {
    notice(e.message, true);
  }
});

$("#logout").addEventListener("click", async () => {
  try { await call("POST", "logout"); } catch (e) { /* gone already */ }
  csrf = "";
  notice("logged out");
  showLogin();
});

// ---- Tabs.

let tab = "users";
for (const b of $$("nav button")) {
  b.addEventListener("click", async () => {
    tab = b.dataset.tab;
    for (const o of $$("nav button")) o.classList.toggle("active", o === b);
    for (const s of $$(".tab")) s.hidden = s.id !== "tab-" + tab;
    notice("");
    await refresh();
  });
}

async function refresh() {
  try {
    await ({ users: loadUsers, categories: loadCategories, rooms: loadRooms, compliance: loadCompliance, node: loadNode })[tab]();
  } catch (e) {
    notice(e.message, true);
  }
}

// ---- Users.

async function loadUsers() {
  const users = await call("GET", "users");
  fill($("#users-table"), users, (tr, u) => {
    cell(tr, u.jid);
    cell(tr, u.disabled ? "disabled" : "enabled");
    const td = cell(tr, "");
    button(td, "Reset password", () => {
      const pw = window.prompt("New password for " + u.jid);
      if (pw) run("changed the password of " + u.jid, () => call("POST", "users/" + encodeURIComponent(u.name) + "/password", { password: pw }));
    });
    if (!u.disabled) {
      button(td, "Disable", () => run("disabled " + u.jid, () => call("POST", "users/" + encodeURIComponent(u.name) + "/disable")));
    }
    button(td, "Kick", () => run("ended the sessions of " + u.jid, () => call("POST", "users/" + encodeURIComponent(u.name) + "/kick")));
    button(td, "Delete", () => {
      if (window.confirm("Delete " + u.jid + " with its roster and offline messages?")) {
        run("deleted " + u.jid, () => call("DELETE", "users/" + encodeURIComponent(u.name)));
      }
    });
  });
  const sessions = await call("GET", "sessions");
  fill($("#sessions-table"), sessions, (tr, s) => {
    cell(tr, s.jid);
    cell(tr, s.kind);
    cell(tr, s.kind === "sip" ? "registered, contact " + s.contact
      : s.detached ? "detached (may resume)" : s.available ? "available" : "not available");
  });
}

$("#user-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target;
  run("added " + f.name.value, async () => {
    await call("POST", "users", { name: f.name.value, password: f.password.value });
    f.reset();
  });
});

// ---- Categories.

let categories = [];

async function loadCategories() {
  categories = await call("GET", "categories");
  fill($("#categories-table"), categories, (tr, c) => {
    cell(tr, c.Name);
    cell(tr, (c.Rooms || []).join(", "));
    const allowed = c.AllowedMembers || [];
    cell(tr, allowed.length === 0 || allowed.includes("*") ? "everyone" : allowed.join(", "));
    cell(tr, (c.DeniedMembers || []).join(", "));
    cell(tr, [c.FileUpload ? "upload" : "", c.Invitations ? "invitations" : "", c.ChatHistory ? "history" : "",
      c.LocalOnly ? "local only" : "federated", c.RetentionDays ? "kept " + c.RetentionDays + " days" : ""].filter((s) => s).join(", "));
    const td = cell(tr, "");
    button(td, "Edit", () => editCategory(c));
    button(td, "Delete", () => run("deleted category " + c.Name, () => call("DELETE", "categories/" + encodeURIComponent(c.Name))));
  });
}

function editCategory(c) {
  const f = $("#category-form");
  f.name.value = c.Name;
  f.description.value = c.Description || "";
  f.allow.value = (c.AllowedMembers || []).join(", ");
  f.deny.value = (c.DeniedMembers || []).join(", ");
  f.creators.value = (c.Creators || []).join(", ");
  f.retention_days.value = c.RetentionDays || 0;
  f.upload.checked = c.FileUpload;
  f.invitations.checked = c.Invitations;
  f.history.checked = c.ChatHistory;
  f.federated.checked = !c.LocalOnly;
}

function categoryChange(f) {
  return {
    description: f.description.value, allow: list(f.allow.value), deny: list(f.deny.value),
    creators: list(f.creators.value), upload: f.upload.checked, invitations: f.invitations.checked,
    history: f.history.checked, federated: f.federated.checked, retention_days: Number(f.retention_days.value || 0),
  };
}

$("#category-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target;
  run("added category " + f.name.value, async () => {
    await call("POST", "categories", Object.assign({ name: f.name.value }, categoryChange(f)));
    f.reset();
  });
});

$("#category-save").addEventListener("click", () => {
  const f = $("#category-form");
  run("changed category " + f.name.value, () => call("PATCH", "categories/" + encodeURIComponent(f.name.value), categoryChange(f)));
});

// ---- Rooms.

async function loadRooms() {
  const [rooms, cats] = await Promise.all([call("GET", "rooms"), call("GET", "categories")]);
  const sel = $("#room-form").category;
  const chosen = sel.value;
  sel.replaceChildren(...cats.map((c) => new Option(c.Name, c.Name)));
  if (chosen) sel.value = chosen;
  fill($("#rooms-table"), rooms, (tr, r) => {
    cell(tr, r.Address);
    cell(tr, r.Category);
    cell(tr, r.Privacy);
    cell(tr, r.Type);
    cell(tr, r.Disabled ? "disabled" : "enabled");
    const td = cell(tr, "");
    const path = "rooms/" + encodeURIComponent(r.Name);
    button(td, "Show", () => showRoom(r.Name));
    if (r.Disabled) {
      button(td, "Enable", () => run("enabled " + r.Name, () => call("POST", path + "/enable")));
    } else {
      button(td, "Disable", () => run("disabled " + r.Name, () => call("POST", path + "/disable")));
    }
    button(td, "Clear history", () => {
      const before = window.prompt("Delete the messages of " + r.Name + " posted before (YYYY-MM-DD; legal holds are kept)");
      if (before) {
        run("cleared the history of " + r.Name, () => call("POST", path + "/clear", { before: new Date(before).toISOString() }));
      }
    });
    button(td, "Delete", () => {
      if (window.confirm("Delete room " + r.Name + " with its history?")) run("deleted " + r.Name, () => call("DELETE", path));
    });
  });
}

async function showRoom(name) {
  try {
    const r = await call("GET", "rooms/" + encodeURIComponent(name));
    const by = (pred) => (r.Affiliations || []).filter(pred).map((a) => a.JID).join(", ") || "-";
    const f = $("#room-form");
    f.name.value = r.Name;
    f.category.value = r.Category;
    f.privacy.value = r.Privacy;
    f.type.value = r.Type;
    f.title.value = r.Title;
    f.description.value = r.Description;
    f.subject.value = r.Subject;
    const d = $("#room-detail");
    d.textContent = [
      r.Address + " (" + r.Privacy + ", " + r.Type + ", " + (r.Disabled ? "disabled" : "enabled") + ")",
      "title: " + r.Title, "category: " + r.Category, "creator: " + r.Creator,
      "managers: " + by((a) => a.Affiliation === "owner" || a.Affiliation === "admin"),
      "members: " + by((a) => a.Affiliation === "member"),
      "presenters: " + by((a) => a.Presenter),
      "outcasts: " + by((a) => a.Affiliation === "outcast"),
    ].join("\n");
    d.hidden = false;
    $("#places-form").room.value = r.Name;
  } catch (e) {
    notice(e.message, true);
  }
}

$("#room-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const spec = {
    name: f.name.value, category: f.category.value, privacy: f.privacy.value, type: f.type.value,
    managers: list(f.managers.value), members: list(f.members.value), presenters: list(f.presenters.value),
  };
  for (const k of ["title", "description", "subject"]) {
    if (f[k].value) spec[k] = f[k].value;
  }
  run("created room " + f.name.value, async () => {
    await call("POST", "rooms", spec);
    f.reset();
  });
});

$("#room-save").addEventListener("click", () => {
  const f = $("#room-form");
  const change = { category: f.category.value, privacy: f.privacy.value, type: f.type.value,
    title: f.title.value, description: f.description.value };
  if (f.subject.value) change.subject = f.subject.value;
  run("changed room " + f.name.value, () => call("PATCH", "rooms/" + encodeURIComponent(f.name.value), change));
});

$("#places-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const add = ev.submitter && ev.submitter.value === "add";
  run((add ? "added to " : "removed from ") + "the " + f.list.value + " of " + f.room.value, async () => {
    await call("POST", "rooms/" + encodeURIComponent(f.room.value) + "/places/" + f.list.value, { add, users: list(f.users.value) });
    await showRoom(f.room.value);
  });
});

// ---- Compliance.

function ago(t) {
  return t && !t.startsWith("0001-") ? new Date(t).toISOString() : "-";
}

async function loadCompliance() {
  const [st, holds] = await Promise.all([call("GET", "compliance/status"), call("GET", "compliance/holds")]);
  const worker = st.Lease && st.Lease.Holder ? st.Lease.Holder + ", lease until " + ago(st.Lease.Expires) : "none active";
  pairs($("#compliance-status"), [
    ["compliance", st.Setting], ["compliance storage", st.Storage], ["worker", worker],
    ["lag", (st.Lag / 1e9).toFixed(0) + "s"], ["outbox backlog", st.Outbox.Events + " events"],
    ["captured events", st.Captured],
    ...(st.Adapters || []).map((a) => ["adapter " + a.Name, "written up to event " + a.Seq]),
  ]);
  fill($("#holds-table"), holds, (tr, h) => {
    cell(tr, h.Kind); cell(tr, h.Name); cell(tr, ago(h.Created)); cell(tr, h.Actor); cell(tr, h.Reason);
    button(cell(tr, ""), "Lift", () => {
      const t = h.Kind === "user" ? { user: h.Name } : { room: h.Name };
      run("lifted the hold on " + h.Name, () => call("POST", "compliance/holds/remove", t));
    });
  });
}

$("#hold-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target;
  run("placed a legal hold", async () => {
    await call("POST", "compliance/holds", { user: f.user.value, room: f.room.value, reason: f.reason.value });
    f.reset();
  });
});

$("#export-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    const resp = await call("POST", "compliance/export", {
      From: new Date(f.from.value).toISOString(), To: new Date(f.to.value).toISOString(),
      Room: f.room.value, User: f.user.value, Format: f.format.value,
    });
    const blob = await resp.blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    const m = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "");
    a.download = m ? m[1] : "compliance-export";
    document.body.appendChild(a);
    a.click();
    a.remove();
    notice("exported " + blob.size + " bytes");
  } catch (e) {
    notice(e.message, true);
  }
});

// ---- Pool and metrics.

async function loadNode() {
  try {
    const nodes = await call("GET", "pool");
    fill($("#pool-table"), nodes, (tr, n) => {
      cell(tr, n.node); cell(tr, n.role); cell(tr, n.up ? (n.active ? "active" : "standby") : "down");
      cell(tr, n.sessions); cell(tr, n.rooms_hosted); cell(tr, n.peers); cell(tr, n.db_latency_ms + " ms");
    });
    $("#pool-note").textContent = nodes.length + " nodes";
  } catch (e) {
    fill($("#pool-table"), [], () => {});
    $("#pool-note").textContent = e.message;
  }
  const m = await call("GET", "metrics");
  pairs($("#metrics-table"), [["node", m.node], ["uptime", Math.round(m.uptime_seconds) + "s"],
    ...m.series.map((s) => [s.name, s.value])]);
}

// ---- Start: the open session, or the login form.

(async () => {
  try {
    await showMain(await call("GET", "session"));
  } catch (e) {
    showLogin();
  }
})();
