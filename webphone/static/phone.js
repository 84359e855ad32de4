// Parley's SIP phone page: registers to this server over SIP over
// WebSocket (RFC 7118) with SIP.js, joins rooms by sending /join to
// sip:ROOM@ROOMDOMAIN, posts with MESSAGE (RFC 3428) and shows the MESSAGEs
// it receives: room posts (message/cpim, RFC 3862, which the REGISTER's
// Accept asks for, so the sender's nick and time come apart from the
// text), the room's answers and notices (text/plain) and messages from
// users. Settings come from <body>'s data attributes (the page's CSP
// allows no inline script).
import { Messager, Registerer, RegistererState, UserAgent } from "./lib/sip.js";

const settings = document.body.dataset;
const domain = settings.domain;
const roomDomain = settings.roomDomain;
const wsURL = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + settings.websocket;
const textPlain = "text/plain;charset=UTF-8";

const $ = (id) => document.getElementById(id);

let ua = null;
let registerer = null;
let self = "";
// Conversations by address (user@host): a room or a user.
const conversations = new Map();
let active = "";

// ---- Conversations and their log

function conversation(address, isRoom) {
  let c = conversations.get(address);
  if (!c) {
    c = { address, isRoom, name: address.split("@")[0], entries: [], unread: 0 };
    conversations.set(address, c);
    renderList();
  }
  return c;
}

function isRoomAddress(address) {
  return address.endsWith("@" + roomDomain);
}

// add puts an entry in a conversation: kind is "post" (someone's), "own",
// or "notice" (from the room).
function add(c, kind, who, text, time) {
  const e = { kind, who, text, time: time || new Date(), state: "" };
  c.entries.push(e);
  if (c.address === active) {
    $("log").append(entryView(e));
    scrollDown();
  } else {
    c.unread++;
    renderList();
  }
  return e;
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  el.className = className;
  el.textContent = text;
  return el;
}

function entryView(e) {
  const li = element("li", "entry " + e.kind + (e.state ? " " + e.state : ""), "");
  const time = element("time", "", e.time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }));
  time.dateTime = e.time.toISOString();
  li.append(time);
  if (e.who) {
    li.append(element("span", "who", e.who));
  }
  li.append(element("span", "text", e.text));
  if (e.state) {
    li.append(element("span", "state", e.stateText));
  }
  e.view = li;
  return li;
}

function setState(e, state, text) {
  e.state = state;
  e.stateText = text;
  if (e.view && e.view.isConnected) {
    e.view.replaceWith(entryView(e));
  }
}

function scrollDown() {
  const log = $("log");
  log.scrollTop = log.scrollHeight;
}

function renderList() {
  const ul = $("conversations");
  ul.replaceChildren();
  for (const c of conversations.values()) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = (c.isRoom ? "room" : "user") + (c.address === active ? " active" : "");
    b.dataset.address = c.address;
    b.textContent = (c.isRoom ? "# " : "@ ") + c.name;
    if (c.unread > 0) {
      b.append(element("span", "unread", String(c.unread)));
    }
    b.addEventListener("click", () => open(c.address));
    li.append(b);
    ul.append(li);
  }
}

function open(address) {
  const c = conversations.get(address);
  active = address;
  c.unread = 0;
  $("conversation-title").textContent = c.isRoom ? `Room ${c.name} (sip:${address})` : `sip:${address}`;
  $("log").replaceChildren(...c.entries.map(entryView));
  $("post-text").disabled = false;
  $("post-submit").disabled = false;
  $("post-text").focus();
  renderList();
  scrollDown();
}

// ---- Sending

// send MESSAGEs text to address and shows it as the user's own, marked
// once the server answers: 2xx taken, else the status and its reason.
function send(address, text) {
  const c = conversation(address, isRoomAddress(address));
  const e = add(c, "own", self, text);
  setState(e, "pending", "sending…");
  const target = UserAgent.makeURI("sip:" + address);
  if (!target) {
    setState(e, "failed", "not a SIP address");
    return;
  }
  const messager = new Messager(ua, target, text, textPlain);
  messager
    .message({
      requestDelegate: {
        onAccept: () => {
          setState(e, "sent", "✓");
          // The rooms joined, to join again after a reconnection.
          const command = text.trim().toLowerCase().split(/\s/)[0];
          if (c.isRoom && command === "/join") {
            c.joined = true;
          } else if (c.isRoom && (command === "/leave" || command === "/part")) {
            c.joined = false;
          }
        },
        onReject: (r) => setState(e, "failed", `${r.message.statusCode} ${r.message.reasonPhrase}`),
      },
    })
    .catch((err) => setState(e, "failed", String(err.message || err)));
}

// ---- Receiving

// parseCPIM returns the sender's display name, the time and the text of a
// message/cpim body (RFC 3862 §2: message headers, a blank line, the
// text/plain entity's headers, a blank line, its text), or null.
function parseCPIM(body) {
  const parts = body.split(/\r?\n\r?\n/);
  if (parts.length < 3) {
    return null;
  }
  let who = "";
  let time = null;
  for (const line of parts[0].split(/\r?\n/)) {
    const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (!m) {
      continue;
    }
    const name = m[1].toLowerCase();
    if (name === "from") {
      const q = /^"((?:[^"\\]|\\.)*)"/.exec(m[2]);
      who = q ? q[1].replace(/\\(.)/g, "$1") : m[2].replace(/<.*>/, "").trim();
    } else if (name === "datetime") {
      const d = new Date(m[2]);
      time = isNaN(d) ? null : d;
    }
  }
  return { who, time, text: parts.slice(2).join("\n\n") };
}

function received(message) {
  const req = message.request;
  message.accept();
  const from = req.from.uri;
  const address = `${from.user}@${from.host}`.toLowerCase();
  const isRoom = from.host.toLowerCase() === roomDomain.toLowerCase();
  const c = conversation(address, isRoom);
  if (!active) {
    open(address);
  }
  const type = (req.getHeader("Content-Type") || "text/plain").toLowerCase();
  const body = req.body || "";
  if (type.startsWith("message/cpim")) {
    const post = parseCPIM(body);
    if (post) {
      add(c, "post", post.who, post.text, post.time);
      return;
    }
  }
  if (isRoom) {
    add(c, "notice", "", body);
  } else {
    add(c, "post", req.from.displayName || from.user, body);
  }
}

// ---- Registering

function status(text, kind) {
  const s = $("status");
  s.textContent = text;
  s.className = "status " + (kind || "");
}

async function register(user, password) {
  const uri = UserAgent.makeURI(`sip:${user}@${domain}`);
  if (!uri) {
    throw new Error(`${user} is not a user name`);
  }
  ua = new UserAgent({
    uri,
    authorizationUsername: user,
    authorizationPassword: password,
    transportOptions: { server: wsURL },
    logLevel: "warn",
    // SIP.js answers only MD5 challenges and reads only the last one
    // of a response: parleyd offers it MD5 alone by this User-Agent.
    userAgentString: `SIP.js/${settings.sipjs} (Parley phone)`,
    // A dropped connection (a network change, parleyd restarting) is
    // opened again every 4 s for two minutes; see reconnected.
    reconnectionAttempts: 30,
    reconnectionDelay: 4,
    delegate: {
      onMessage: received,
      onConnect: reconnected,
      onDisconnect: (err) => {
        if (err) {
          status("Disconnected: " + err.message + "; reconnecting…", "bad");
        }
      },
    },
  });
  status("Connecting…");
  await ua.start();
  // The Accept asks the rooms to send posts in message/cpim (see
  // parseCPIM).
  registerer = new Registerer(ua, { extraHeaders: ["Accept: message/cpim, text/plain"] });
  await new Promise((resolve, reject) => {
    registerer.stateChange.addListener((state) => {
      if (state === RegistererState.Registered) {
        resolve();
      }
    });
    status("Registering…");
    registerer
      .register({
        requestDelegate: {
          onReject: (r) => {
            const m = r.message;
            reject(new Error(m.statusCode === 401 || m.statusCode === 403
              ? `Wrong user or password (${m.statusCode} ${m.reasonPhrase})`
              : `${m.statusCode} ${m.reasonPhrase}`));
          },
        },
      })
      .catch(reject);
  });
  self = user;
  registerer.stateChange.addListener((state) => {
    if (state === RegistererState.Registered) {
      status(`Registered as sip:${user}@${domain}`, "ok");
    } else if (state === RegistererState.Unregistered) {
      status("Not registered", "bad");
    }
  });
  status(`Registered as sip:${user}@${domain}`, "ok");
}

// reconnected registers again on a new connection (its contact is reached
// over the connection it registered on) and joins the rooms joined before
// again: a restarted parleyd keeps neither.
function reconnected() {
  if (!registerer || !self) {
    return; // the first connection: register does the rest
  }
  status("Reconnected; registering…");
  registerer
    .register({
      requestDelegate: {
        onAccept: () => {
          status(`Registered as sip:${self}@${domain}`, "ok");
          for (const c of conversations.values()) {
            if (c.joined) {
              send(c.address, "/join");
            }
          }
        },
        onReject: (r) => status(`Not registered: ${r.message.statusCode} ${r.message.reasonPhrase}`, "bad"),
      },
    })
    .catch((err) => status("Not registered: " + (err.message || err), "bad"));
}

async function logout() {
  try {
    if (registerer) {
      await registerer.unregister();
    }
    if (ua) {
      await ua.stop();
    }
  } finally {
    location.reload();
  }
}

// ---- The forms

$("login-user").addEventListener("input", (ev) => {
  $("login-aor").textContent = (ev.target.value || "USER") + "@" + domain;
});

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const user = $("login-user").value.trim().toLowerCase();
  const password = $("login-password").value;
  $("login-error").textContent = "";
  $("login-submit").disabled = true;
  try {
    await register(user, password);
    $("login").hidden = true;
    $("phone").hidden = false;
    $("logout").hidden = false;
    const room = new URLSearchParams(location.search).get("room");
    if (room) {
      $("join-room").value = room;
    }
    $("join-room").focus();
  } catch (err) {
    $("login-error").textContent = err.message || String(err);
    $("login-password").value = "";
    $("login-password").focus();
    status("Not registered", "bad");
    if (ua) {
      ua.stop().catch(() => {});
      ua = null;
    }
  } finally {
    $("login-submit").disabled = false;
  }
});

$("logout").addEventListener("click", logout);

$("join").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const room = $("join-room").value.trim().toLowerCase();
  if (!room) {
    return;
  }
  const address = `${room}@${roomDomain}`;
  conversation(address, true);
  open(address);
  send(address, "/join");
  $("join-room").value = "";
});

$("chat").addEventListener("submit", (ev) => {
  ev.preventDefault();
  let to = $("chat-to").value.trim().toLowerCase();
  if (!to) {
    return;
  }
  if (!to.includes("@")) {
    to += "@" + domain;
  }
  conversation(to, isRoomAddress(to));
  open(to);
  $("chat-to").value = "";
});

function post() {
  const text = $("post-text").value.trim();
  if (!active || text === "") {
    return;
  }
  send(active, text);
  $("post-text").value = "";
}

$("post").addEventListener("submit", (ev) => {
  ev.preventDefault();
  post();
});

// Enter sends, Shift+Enter starts a new line.
$("post-text").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    post();
  }
});

window.addEventListener("pagehide", () => {
  if (registerer && registerer.state === RegistererState.Registered) {
    registerer.unregister().catch(() => {});
  }
});
