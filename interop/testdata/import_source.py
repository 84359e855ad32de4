"""slixmpp against another server (Prosody, ejabberd) and then against
parleyd, for parleyctl import (import_test.go).

--phase populate (against the old server, at --domain, rooms at --muc):
    alice and bob log in (SCRAM-SHA-1, what Prosody 0.12 offers); alice
    creates three persistent rooms: "design" (public, open, with a
    subject), "board" (hidden, members-only: bob a member) and "town"
    (public, moderated: bob a member); alice subscribes to bob's presence
    and bob accepts (alice's roster item for bob goes to --state). Both post --count messages to the rooms in turn
    (some with non-ASCII text and one with a searchable word) and chat 1:1;
    then alice reads every room's archive and her own (MAM) and writes to
    --state what they hold: each message's archive id, timestamp, nick (the
    sender's resource for chats) and body, in order.
--phase verify (against parleyd after the import; rooms at --muc):
    alice and bob log in with their old passwords (SCRAM-SHA-1, then PLAIN
    for bob); alice's roster item for bob is what the old server had
    (subscription, name, groups); alice reads every
    room's archive and her own from parleyd and they equal what --state
    holds: the same ids, timestamps, nicks and bodies in the same order; a full-text search
    (XEP-0431) finds the searchable message at once.

Needs --user alice:PW --user bob:PW.
"""

import asyncio
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from slixclient import Client, check, iq, run, step, take_args

OWN = take_args({"--muc": "", "--count": "12"})

NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_DATA = "jabber:x:data"
NS_FORWARD = "urn:xmpp:forward:0"
NS_DELAY = "urn:xmpp:delay"
NS_CLIENT = "jabber:client"
NS_FULLTEXT = "urn:xmpp:fulltext:0"

ROOMS = {
    "design": {"muc#roomconfig_publicroom": "1", "muc#roomconfig_membersonly": "0",
               "muc#roomconfig_moderatedroom": "0", "muc#roomconfig_roomname": "Design",
               "muc#roomconfig_roomdesc": "Where the drawings are"},
    "board": {"muc#roomconfig_publicroom": "0", "muc#roomconfig_membersonly": "1",
              "muc#roomconfig_moderatedroom": "0", "muc#roomconfig_roomname": "Board"},
    "town": {"muc#roomconfig_publicroom": "1", "muc#roomconfig_membersonly": "0",
             "muc#roomconfig_moderatedroom": "1", "muc#roomconfig_roomname": "Town hall"},
}
SEARCH_WORD = "zanzibarish"
CHATS = [("alice", "hello bob, a private word"), ("bob", "hi alice \U0001F44B"), ("alice", "see you in design")]


class C(Client):
    def __init__(self, args, user, resource, mech="SCRAM-SHA-1"):
        super().__init__(args, user, resource, auto_authorize=True, mech=mech)
        self.register_plugin("xep_0045")


async def configure(alice, room, fields):
    form = await iq(alice.plugin["xep_0045"].get_room_config(room), f"config form of {room}")
    values = {"muc#roomconfig_persistentroom": "1"}
    values.update(fields)
    for var, field in form.get_fields().items():
        if var in values:
            field["value"] = values[var]
    form["type"] = "submit"
    await iq(alice.plugin["xep_0045"].set_room_config(room, form), f"configure {room}")


async def archive(c, room, fulltext=None):
    """Every message of room's archive (the account's own when room is
    None), oldest first, paging with RSM."""
    out, after = [], None
    while True:
        q = c.Iq()
        q["type"] = "set"
        if room:
            q["to"] = room
        query = ET.SubElement(q.xml, f"{{{NS_MAM}}}query", {"queryid": "q"})
        if fulltext:
            x = ET.SubElement(query, f"{{{NS_DATA}}}x", {"type": "submit"})
            f = ET.SubElement(x, f"{{{NS_DATA}}}field", {"var": "FORM_TYPE", "type": "hidden"})
            ET.SubElement(f, f"{{{NS_DATA}}}value").text = NS_MAM
            f = ET.SubElement(x, f"{{{NS_DATA}}}field", {"var": "{urn:xmpp:fulltext:0}fulltext"})
            ET.SubElement(f, f"{{{NS_DATA}}}value").text = fulltext
        rsm = ET.SubElement(query, f"{{{NS_RSM}}}set")
        ET.SubElement(rsm, f"{{{NS_RSM}}}max").text = "50"
        if after:
            ET.SubElement(rsm, f"{{{NS_RSM}}}after").text = after
        while not c.messages.empty():
            c.messages.get_nowait()
        res = await iq(q.send(timeout=20), f"MAM query of {room}")
        # The results come before the IQ result, on the same stream: they
        # are queued by now.
        page = []
        while not c.messages.empty():
            m = c.messages.get_nowait()
            r = m.xml.find(f"{{{NS_MAM}}}result")
            if r is None or r.get("queryid") != "q":
                continue
            fwd = r.find(f"{{{NS_FORWARD}}}forwarded")
            inner = fwd.find(f"{{{NS_CLIENT}}}message")
            body = inner.find(f"{{{NS_CLIENT}}}body")
            frm = inner.get("from") or ""
            page.append({"id": r.get("id"), "stamp": norm(fwd.find(f"{{{NS_DELAY}}}delay").get("stamp")),
                         "nick": frm.split("/", 1)[1] if "/" in frm else "",
                         "body": body.text if body is not None else None})
        out.extend(p for p in page if p["body"] is not None)
        fin = res.xml.find(f"{{{NS_MAM}}}fin")
        last = fin.find(f"{{{NS_RSM}}}set/{{{NS_RSM}}}last") if fin is not None else None
        if fin is None or fin.get("complete") == "true" or last is None or not page:
            return out
        after = last.text


def norm(stamp):
    """A delay stamp as UTC with whole seconds and microseconds apart."""
    s = stamp.replace("Z", "+00:00")
    return datetime.fromisoformat(s).astimezone(timezone.utc).isoformat()


async def populate(args):
    muc = OWN["--muc"]
    alice = await C(args, "alice", "laptop").login()
    bob = await C(args, "bob", "phone").login()
    await iq(alice.update_roster(f"bob@{args.domain}", name="Bob", groups=["Friends"]), "alice adds bob")
    alice.send_presence_subscription(pto=f"bob@{args.domain}", ptype="subscribe")
    bob.send_presence_subscription(pto=f"alice@{args.domain}", ptype="subscribe")
    await asyncio.sleep(1)
    for name, fields in ROOMS.items():
        room = f"{name}@{muc}"
        await alice.plugin["xep_0045"].join_muc_wait(room, "Alice", maxstanzas=0, timeout=10)
        await configure(alice, room, fields)
        if name != "design":
            await iq(alice.plugin["xep_0045"].set_affiliation(room, "member", jid=f"bob@{args.domain}"),
                     f"bob member of {room}")
        if name == "town":
            await iq(alice.plugin["xep_0045"].set_affiliation(room, "admin", jid=f"carol@{args.domain}"),
                     f"carol admin of {room}")
        await bob.plugin["xep_0045"].join_muc_wait(room, "Bob", maxstanzas=0, timeout=10)
        if name == "town":
            await iq(alice.plugin["xep_0045"].set_role(room, "Bob", "participant"), "voice bob in town")
        step(f"{room} created and configured")
    alice.plugin["xep_0045"].set_subject(f"design@{muc}", "Drawings only")
    n = int(OWN["--count"])
    for i in range(n):
        for name in ROOMS:
            who, nick = (alice, "Alice") if i % 2 == 0 else (bob, "Bob")
            body = f"{name} message {i} from {nick}"
            if i == 3:
                body += " — naïve café ☕"
            if i == 5 and name == "design":
                body += f" {SEARCH_WORD}"
            who.send_message(mto=f"{name}@{muc}", mbody=body, mtype="groupchat")
        await asyncio.sleep(0.05)
    for who, body in CHATS:
        c, to = (alice, "bob") if who == "alice" else (bob, "alice")
        c.send_message(mto=f"{to}@{args.domain}", mbody=body, mtype="chat")
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)
    items, _ = await alice.server_roster()
    roster = items.get(f"bob@{args.domain}")
    check(roster is not None, f"alice's roster on the old server has no bob: {items}")
    state = {"rooms": {}, "roster": roster}
    for name in ROOMS:
        msgs = await archive(alice, f"{name}@{muc}")
        check(len(msgs) == n, f"{name}: the old server's archive holds {len(msgs)} messages, want {n}")
        state["rooms"][name] = msgs
        step(f"{name}: {len(msgs)} messages archived, first {msgs[0]}")
    chat = await archive(alice, None)
    # In the order the server archived them, which need not be the order
    # sent (Prosody's sql store archived bob's reply first once).
    check(sorted(m["body"] for m in chat) == sorted(b for _, b in CHATS),
          f"alice's own archive on the old server holds {chat}, want the chats {CHATS}")
    state["chat"] = chat
    step(f"alice's own archive: {len(chat)} chats, first {chat[0]}")
    with open(args.state, "w") as f:
        json.dump(state, f)
    await alice.logout()
    await bob.logout()


async def verify(args):
    muc = OWN["--muc"]
    with open(args.state) as f:
        state = json.load(f)
    alice = await C(args, "alice", "desk", mech="SCRAM-SHA-1").login()
    bob = await C(args, "bob", "desk", mech="PLAIN").login(presence=False)
    items, _ = await alice.server_roster()
    got = items.get(f"bob@{args.domain}")
    want = state["roster"]
    check(got is not None and list(got) == want,
          f"alice's roster item for bob is {got}, want {want}, as on the old server ({items})")
    step(f"alice's roster: bob {got}")
    for name, want in state["rooms"].items():
        got = await archive(alice, f"{name}@{muc}")
        check(len(got) == len(want), f"{name}: parleyd's archive holds {len(got)} messages, want {len(want)}")
        for i, (g, w) in enumerate(zip(got, want)):
            check(g == w, f"{name}: message {i} is {g}, want {w}")
        step(f"{name}: all {len(got)} messages in order with their ids, times and nicks")
    got = await archive(alice, None)
    check(got == state["chat"], f"alice's own archive on parleyd is {got}, want {state['chat']}")
    step(f"alice's own archive: all {len(got)} chats in order with their ids and times")
    found = await archive(alice, f"design@{muc}", fulltext=SEARCH_WORD)
    check(len(found) == 1 and SEARCH_WORD in found[0]["body"],
          f"a full-text search for {SEARCH_WORD} found {found}")
    step(f"full-text search finds {found[0]['id']}")
    await alice.logout()
    await bob.logout()


async def main(args):
    if args.phase == "populate":
        await populate(args)
    elif args.phase == "verify":
        await verify(args)
    else:
        raise SystemExit(f"unknown --phase {args.phase}")


run(main, timeout=120)
