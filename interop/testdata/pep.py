"""slixmpp against parleyd: personal eventing (XEP-0163) and what clients
keep in it, across a restart.

--phase before:
    1. bob subscribes to alice's presence, alice approves.
    2. bob's client asks for nicknames (XEP-0172 +notify, its XEP-0115
       caps); alice publishes her nick: bob gets the event; carol, a
       stranger with the same caps, does not.
    3. alice publishes an OMEMO device list with publish-options
       access_model=open; carol reads it; her nick (presence access) she
       may not read (presence-subscription-required).
    4. bookmarks: alice's laptop stores XEP-0048 bookmarks in private XML
       (XEP-0049); her phone, asking for urn:xmpp:bookmarks:1+notify, gets
       the XEP-0402 event and reads the native item; the phone adds a room
       as a XEP-0402 item; the laptop's private storage has both.
    5. vCard: alice sets a vCard with a PHOTO (XEP-0054, no XEP-0153
       plugin); her next presence reaches bob with the photo's SHA-1
       (vcard-temp:x:update); alice's phone publishes a new avatar over
       PEP (XEP-0084): bob's vCard fetch shows it (XEP-0398).
--phase after (restarted server, same storage):
    alice logs in again: both bookmark forms still hold both rooms; carol
    still reads the device list; bob reads alice's nick.

With --other-port PORT (a pool), bob, carol and alice's phone log in on
another node than alice's laptop: events, last items and bookmark
conversion cross the nodes.

Needs --user alice:PW --user bob:PW --user carol:PW.
"""

import copy
import hashlib
import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0004 import Form

from slixclient import Client, Failure, check, iq, run, step, take_args, until

OWN = take_args({"--other-port": "0"})


def elsewhere(args):
    """args for a client on the other node of a pool, if there is one."""
    if not int(OWN["--other-port"]):
        return args
    other = copy.copy(args)
    other.port = int(OWN["--other-port"])
    return other

NS_EVENT = "http://jabber.org/protocol/pubsub#event"
NS_NICK = "http://jabber.org/protocol/nick"
NS_BM2 = "urn:xmpp:bookmarks:1"
NS_OMEMO = "eu.siacs.conversations.axolotl"
DEVICES = NS_OMEMO + ".devicelist"
ROOM1 = "one@conference.localhost"
ROOM2 = "two@conference.localhost"
PNG = b"\x89PNG\r\n\x1a\n parley test avatar one"
PNG2 = b"\x89PNG\r\n\x1a\n parley test avatar two"


class PEPClient(Client):
    def __init__(self, args, user, resource, interests=()):
        super().__init__(args, user, resource)
        for p in ("xep_0060", "xep_0115", "xep_0163", "xep_0172", "xep_0048", "xep_0049",
                  "xep_0054", "xep_0084"):
            self.register_plugin(p)
        self.interests = list(interests)
        self.presences = []
        self.add_event_handler("presence_available", self.presences.append)

    async def login_with_caps(self):
        """Log in, announce +notify interests in the caps of the initial
        presence (XEP-0115), and wait until the server has it."""
        await self.login(presence=False)
        for ns in self.interests:
            self["xep_0030"].add_feature(ns + "+notify")
        await self["xep_0115"].update_caps(broadcast=False)
        await iq(self.get_roster(), f"{self.label} roster get")
        self.send_presence()
        await iq(self["xep_0199"].send_ping(self.args.domain, timeout=10), f"{self.label} ping")
        return self

    async def events(self, node, what, timeout=10):
        """Wait for a pubsub event on node; return the <items/> element."""
        while True:
            msg = await self.next_message(what, timeout)
            items = msg.xml.find(f"{{{NS_EVENT}}}event/{{{NS_EVENT}}}items")
            if items is not None and items.get("node") == node:
                return msg, items

    async def no_event(self, node, what):
        await self.expect_quiet(lambda m: m.xml.find(f"{{{NS_EVENT}}}event/{{{NS_EVENT}}}items[@node='{node}']") is not None, what)

    async def expect_quiet(self, bad, what):
        await iq(self["xep_0199"].send_ping(self.args.domain, timeout=10), f"{self.label} ping (sync)")
        import asyncio
        await asyncio.sleep(0.5)
        while not self.messages.empty():
            m = self.messages.get_nowait()
            check(not bad(m), f"{self.label}: {what}: {m}")


def open_options():
    f = Form()
    f["type"] = "submit"
    f.add_field(var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/pubsub#publish-options")
    f.add_field(var="pubsub#access_model", value="open")
    return f


async def items_of(c, jid, node, what):
    res = await iq(c["xep_0060"].get_items(jid, node, timeout=10), what)
    return res.xml.findall(".//{http://jabber.org/protocol/pubsub}item")


async def private_rooms(c):
    res = await iq(c["xep_0048"].get_bookmarks(method="xep_0049", timeout=10), f"{c.label} private bookmarks")
    st = res.xml.find(".//{storage:bookmarks}storage")
    check(st is not None, f"{c.label}: no storage:bookmarks in {res}")
    return sorted(e.get("jid") for e in st.findall("{storage:bookmarks}conference"))


async def befriend(watcher, owner):
    """watcher subscribes to owner's presence; owner approves."""
    owner_bare = owner.boundjid.bare
    watcher.send_presence_subscription(pto=owner_bare, ptype="subscribe")
    await until(lambda: any(p["from"].bare == watcher.boundjid.bare for p in owner.subscribe_requests),
                f"{owner.label} to get {watcher.label}'s subscription request")
    owner.send_presence(pto=watcher.boundjid.bare, ptype="subscribed")
    await until(lambda: watcher.client_roster[owner_bare]["subscription"] in ("to", "both"),
                f"{watcher.label}'s subscription to {owner_bare}")


async def before(args):
    d = args.domain
    alice_bare = f"alice@{d}"
    step("1. alice, bob (asks for nicks and avatars) and carol (a stranger, asks for nicks) log in")
    alice = await PEPClient(args, "alice", "laptop").login_with_caps()
    bob = await PEPClient(elsewhere(args), "bob", "desk", [NS_NICK, "urn:xmpp:avatar:metadata"]).login_with_caps()
    carol = await PEPClient(elsewhere(args), "carol", "tab", [NS_NICK]).login_with_caps()
    await befriend(bob, alice)
    step("   bob is subscribed to alice's presence")

    step("2. alice publishes her nick (XEP-0172): bob is notified, carol is not")
    await iq(alice["xep_0172"].publish_nick("Alice in Parley", timeout=10), "alice publish nick")
    msg, items = await bob.events(NS_NICK, "alice's nick event")
    nick = items.find(f"{{{NS_EVENT}}}item/{{{NS_NICK}}}nick")
    check(msg["from"].bare == alice_bare and nick is not None and nick.text == "Alice in Parley",
          f"bob: nick event {msg}")
    step(f"   bob got {nick.text!r} from {msg['from']}")
    await carol.no_event(NS_NICK, "a stranger got alice's nick")
    step("   carol got nothing")

    step("3. alice publishes an OMEMO device list, access_model=open; carol reads it")
    dl = ET.Element(f"{{{NS_OMEMO}}}list")
    ET.SubElement(dl, f"{{{NS_OMEMO}}}device", id="31415")
    await iq(alice["xep_0060"].publish(None, DEVICES, id="current", payload=dl, options=open_options(), timeout=10),
             "alice publish device list")
    got = await items_of(carol, alice_bare, DEVICES, "carol reads alice's device list")
    check(len(got) == 1 and got[0].find(f"{{{NS_OMEMO}}}list/{{{NS_OMEMO}}}device").get("id") == "31415",
          f"carol: device list items {[ET.tostring(g) for g in got]}")
    step("   carol read device 31415")
    try:
        await carol["xep_0060"].get_items(alice_bare, NS_NICK, timeout=10)
        raise Failure("carol read alice's nick (presence access model)")
    except IqError as e:
        check(e.iq["error"]["condition"] == "not-authorized", f"carol reading the nick: {e.iq}")
        step("   carol may not read alice's nick: not-authorized")

    step("4. bookmarks: the laptop stores XEP-0048 bookmarks in private storage")
    phone = await PEPClient(elsewhere(args), "alice", "phone", [NS_BM2]).login_with_caps()
    bm = alice["xep_0048"].stanza.Bookmarks()
    bm.add_conference(ROOM1, "al", name="Room one", autojoin=True)
    await iq(alice["xep_0048"].set_bookmarks(bm, method="xep_0049", timeout=10), "laptop private bookmarks set")
    msg, items = await phone.events(NS_BM2, "the phone's XEP-0402 event")
    item = items.find(f"{{{NS_EVENT}}}item")
    check(item is not None and item.get("id") == ROOM1, f"phone: bookmark event {msg}")
    step(f"   the phone was notified of {item.get('id')}")
    got = await items_of(phone, None, NS_BM2, "phone reads native bookmarks")
    check([g.get("id") for g in got] == [ROOM1], f"phone: native bookmarks {[g.get('id') for g in got]}")
    conf = ET.Element(f"{{{NS_BM2}}}conference", name="Room two", autojoin="true")
    ET.SubElement(conf, f"{{{NS_BM2}}}nick").text = "al"
    await iq(phone["xep_0060"].publish(None, NS_BM2, id=ROOM2, payload=conf, timeout=10), "phone publish bookmark")
    rooms = await private_rooms(alice)
    check(rooms == [ROOM1, ROOM2], f"laptop: private bookmarks {rooms}")
    step(f"   the laptop's private storage has {rooms}")

    step("5. vCard: alice sets a PHOTO; her presence carries its hash (XEP-0153)")
    vc = alice["xep_0054"].make_vcard()
    vc["FN"] = "Alice"
    vc["PHOTO"]["TYPE"] = "image/png"
    vc["PHOTO"]["BINVAL"] = PNG
    await iq(alice["xep_0054"].publish_vcard(vc, timeout=10), "alice vCard set")
    bob.presences.clear()
    alice.send_presence(pstatus="avatar set")
    want = hashlib.sha1(PNG).hexdigest()

    def hash_seen():
        for p in bob.presences:
            x = p.xml.find("{vcard-temp:x:update}x/{vcard-temp:x:update}photo")
            if p["from"].bare == alice_bare and x is not None and x.text == want:
                return True
        return False
    await until(hash_seen, f"bob to see alice's presence with photo hash {want}")
    step(f"   bob saw alice's presence with photo {want}")
    msg, items = await bob.events("urn:xmpp:avatar:metadata", "the avatar metadata event (XEP-0398)")
    info = items.find(".//{urn:xmpp:avatar:metadata}info")
    check(info is not None and info.get("id") == want, f"bob: avatar metadata {msg}")
    step("   and the vCard PHOTO was published as alice's PEP avatar")
    new_id = hashlib.sha1(PNG2).hexdigest()
    await iq(phone["xep_0084"].publish_avatar(PNG2, timeout=10), "phone publish avatar data")
    await iq(phone["xep_0084"].publish_avatar_metadata([{"id": new_id, "type": "image/png", "bytes": len(PNG2)}],
                                                       timeout=10), "phone publish avatar metadata")
    res = await iq(bob["xep_0054"].get_vcard(alice_bare, timeout=10), "bob gets alice's vCard")
    check(res["vcard_temp"]["PHOTO"]["BINVAL"] == PNG2 and res["vcard_temp"]["FN"] == "Alice",
          f"bob: alice's vCard after a PEP avatar: {res}")
    step("   bob's vCard fetch shows the avatar the phone published over PEP")
    for c in (phone, carol, bob, alice):
        await c.logout()


async def after(args):
    alice_bare = f"alice@{args.domain}"
    step("1. after the restart alice logs in again: both bookmark forms have both rooms")
    alice = await PEPClient(args, "alice", "desktop").login_with_caps()
    rooms = await private_rooms(alice)
    check(rooms == [ROOM1, ROOM2], f"private bookmarks after the restart: {rooms}")
    got = sorted(g.get("id") for g in await items_of(alice, None, NS_BM2, "native bookmarks"))
    check(got == [ROOM1, ROOM2], f"native bookmarks after the restart: {got}")
    step(f"   private: {rooms}; native: {got}")
    step("2. carol still reads the device list, bob the nick")
    carol = await PEPClient(args, "carol", "tab").login_with_caps()
    check(len(await items_of(carol, alice_bare, DEVICES, "carol device list")) == 1, "carol: device list gone")
    bob = await PEPClient(args, "bob", "desk").login_with_caps()
    got = await items_of(bob, alice_bare, NS_NICK, "bob reads alice's nick")
    check(len(got) == 1, f"bob: nick items {got}")
    for c in (bob, carol, alice):
        await c.logout()


async def main(args):
    if args.phase == "before":
        await before(args)
    elif args.phase == "after":
        await after(args)
    else:
        raise Failure(f"unknown --phase {args.phase!r}")


if __name__ == "__main__":
    run(main, timeout=80)
