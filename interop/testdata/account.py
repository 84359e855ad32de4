"""slixmpp against parleyd: what one account's several devices need —
message carbons (XEP-0280), the account's own archive (XEP-0313 with
stanza-ids, XEP-0359) and blocking (XEP-0191).

--phase before:
    alice logs in on a laptop and a phone, both enable carbons; bob logs in.
    bob writes to alice's laptop: the phone gets a <received/> carbon; the
    laptop, then the phone, write to bob: the other device gets a <sent/>
    carbon each time (carbons both ways). Every message alice gets carries
    her archive's stanza-id. alice and bob subscribe to each other; alice
    blocks bob: the phone gets the push, bob's message bounces
    (service-unavailable), his presence no longer reaches alice, alice's
    message to him bounces (not-acceptable + <blocked/>); alice unblocks
    him and his message arrives again.
--phase after (run against the restarted server, same storage):
    alice logs in and reads her archive (MAM): the 1:1 messages she sent
    and received before the restart, in order, each with its id; a
    full-text search finds one; paging backwards gives the last.

With --other-port PORT (a pool), alice's phone logs in on the other node
(and so does alice for --phase after): carbons, block pushes and the
archive cross the nodes.

Needs --user alice:PW --user bob:PW.
"""

import asyncio
import copy
import xml.etree.ElementTree as ET

from slixclient import Client, Failure, check, iq, run, step, take_args, until

OWN = take_args({"--other-port": "0"})

NS_CARBONS = "urn:xmpp:carbons:2"
NS_FORWARD = "urn:xmpp:forward:0"
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_SID = "urn:xmpp:sid:0"
NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"
NS_CLIENT = "jabber:client"
NS_DATA = "jabber:x:data"

# The 1:1 messages of the before phase that alice's archive must hold, in
# order.
CONVERSATION = [
    ("bob", "O Juliet, to your laptop"),
    ("alice", "Romeo, from my laptop"),
    ("alice", "and from my phone, a fox: \U0001F98A"),
    ("bob", "after the unblock"),
    ("bob", "to all of alice"),
]


def elsewhere(args):
    """args for a client on the other node of a pool, if there is one."""
    if not int(OWN["--other-port"]):
        return args
    other = copy.copy(args)
    other.port = int(OWN["--other-port"])
    return other


class AccountClient(Client):
    def __init__(self, args, user, resource):
        super().__init__(args, user, resource, auto_authorize=True)
        self.presences = []
        self.add_event_handler("presence_available", self.presences.append)
        self.iq_sets = []
        self.register_handler_blocking_pushes()

    def register_handler_blocking_pushes(self):
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath

        def push(iq_):
            self.iq_sets.append(iq_)
            iq_.reply().send()
        for local in ("block", "unblock"):
            self.register_handler(Callback(f"blocking {local} push",
                                           MatchXPath(f"{{{NS_CLIENT}}}iq/{{{NS_BLOCKING}}}{local}"), push))

    async def set_iq(self, payload, what, to=None):
        q = self.Iq()
        q["type"] = "set"
        if to:
            q["to"] = to
        q.append(payload)
        return await iq(q.send(timeout=10), what)

    async def enable_carbons(self):
        await self.set_iq(ET.Element(f"{{{NS_CARBONS}}}enable"), f"{self.label} enable carbons")
        step(f"{self.label}: carbons enabled")

    async def carbon(self, kind, body, what):
        """The next message must be a carbon of kind forwarding body."""
        msg = await self.next_message(what)
        c = msg.xml.find(f"{{{NS_CARBONS}}}{kind}")
        check(c is not None, f"{self.label}: {what}: not a <{kind}/> carbon: {msg}")
        check(msg["from"].full == self.boundjid.bare,
              f"{self.label}: {what}: carbon from {msg['from']}, want the bare JID")
        inner = c.find(f"{{{NS_FORWARD}}}forwarded/{{{NS_CLIENT}}}message")
        got = inner.findtext(f"{{{NS_CLIENT}}}body") if inner is not None else None
        check(got == body, f"{self.label}: {what}: forwarded body {got!r}, want {body!r}")
        step(f"{self.label}: <{kind}/> carbon of {body!r}")
        return inner

    async def archive(self, what, fields=(), rsm=None):
        """Query the account's own archive; returns [(from bare, body, id)]."""
        self.queries = getattr(self, "queries", 0) + 1
        qid = f"q{self.queries}"
        query = ET.Element(f"{{{NS_MAM}}}query", {"queryid": qid})
        if fields:
            x = ET.SubElement(query, f"{{{NS_DATA}}}x", {"type": "submit"})
            f = ET.SubElement(x, f"{{{NS_DATA}}}field", {"var": "FORM_TYPE", "type": "hidden"})
            ET.SubElement(f, f"{{{NS_DATA}}}value").text = NS_MAM
            for var, value in fields:
                f = ET.SubElement(x, f"{{{NS_DATA}}}field", {"var": var})
                ET.SubElement(f, f"{{{NS_DATA}}}value").text = value
        if rsm is not None:
            query.append(rsm)
        await self.set_iq(query, f"{self.label} MAM query ({what})")
        out = []
        while not self.messages.empty():
            m = self.messages.get_nowait()
            res = m.xml.find(f"{{{NS_MAM}}}result")
            if res is None or res.get("queryid") != qid:
                continue
            inner = res.find(f"{{{NS_FORWARD}}}forwarded/{{{NS_CLIENT}}}message")
            out.append((inner.get("from", "").split("/")[0], inner.findtext(f"{{{NS_CLIENT}}}body"), res.get("id")))
        return out


def stanza_id(msg, by):
    for sid in msg.xml.findall(f"{{{NS_SID}}}stanza-id"):
        if sid.get("by") == by:
            return sid.get("id")
    return None


async def before(args):
    alice_bare, bob_bare = f"alice@{args.domain}", f"bob@{args.domain}"
    step("1. alice logs in on her laptop and her phone, both enable carbons; bob logs in")
    laptop = await AccountClient(args, "alice", "laptop").login()
    phone = await AccountClient(elsewhere(args), "alice", "phone").login()
    bob = await AccountClient(args, "bob", "desk").login()
    for c in (laptop, phone):
        await c.enable_carbons()

    step("2. bob writes to alice's laptop: the phone gets a <received/> carbon")
    body = CONVERSATION[0][1]
    bob.send_message(mto=laptop.boundjid.full, mbody=body, mtype="chat")
    got = await laptop.expect_chat(bob.boundjid, body, "bob's message on the laptop")
    check(stanza_id(got, alice_bare) is not None, f"no stanza-id by {alice_bare} on the delivered message: {got}")
    await phone.carbon("received", body, "the received carbon on the phone")

    step("3. carbons both ways: the laptop writes, the phone sees it; the phone writes, the laptop sees it")
    for sender, other, (_, body) in ((laptop, phone, CONVERSATION[1]), (phone, laptop, CONVERSATION[2])):
        sender.send_message(mto=bob_bare, mbody=body, mtype="chat")
        await bob.expect_chat(sender.boundjid, body, f"{sender.label}'s message")
        inner = await other.carbon("sent", body, f"the sent carbon of {sender.label}'s message")
        check(inner.get("from", "").startswith(sender.boundjid.full),
              f"{other.label}: sent carbon forwards a message from {inner.get('from')}")
        await sender.expect_no_message(f"{sender.label} gets no carbon of its own message")

    step("4. alice and bob subscribe to each other")
    laptop.send_presence_subscription(pto=bob_bare, ptype="subscribe")
    bob.send_presence_subscription(pto=alice_bare, ptype="subscribe")
    await until(lambda: laptop.client_roster[bob_bare]["subscription"] == "both"
                and bob.client_roster[alice_bare]["subscription"] == "both",
                "both subscriptions")

    step("5. alice blocks bob from her laptop: her phone gets the push")
    block = ET.Element(f"{{{NS_BLOCKING}}}block")
    ET.SubElement(block, f"{{{NS_BLOCKING}}}item", {"jid": bob_bare})
    # The phone asks for the blocklist first: pushes go to resources that did.
    q = phone.Iq()
    q["type"] = "get"
    q.append(ET.Element(f"{{{NS_BLOCKING}}}blocklist"))
    await iq(q.send(timeout=10), "phone blocklist get")
    await laptop.set_iq(block, "alice blocks bob")
    await until(lambda: any(i.xml.find(f"{{{NS_BLOCKING}}}block") is not None for i in phone.iq_sets),
                "the block push on the phone")
    step("   phone: block push received")

    step("6. bob's message bounces, his presence stops; alice's message to him bounces")
    bob.send_message(mto=alice_bare, mbody="blocked words", mtype="chat")
    err = await bob.next_message("bob's bounce")
    check(err["type"] == "error" and err["error"]["condition"] == "service-unavailable",
          f"bob's message to a user who blocks him: {err}")
    bob.send_presence(pshow="away", pstatus="blocked presence")
    laptop.send_message(mto=bob_bare, mbody="never sent", mtype="chat")
    err = await laptop.next_message("alice's bounce")
    check(err["type"] == "error" and err["error"]["condition"] == "not-acceptable"
          and err.xml.find(f"{{{NS_CLIENT}}}error/{{{NS_BLOCKING_ERRORS}}}blocked") is not None,
          f"alice's message to a blocked contact: {err}")
    await laptop.expect_no_message("nothing from bob while blocked")
    await phone.expect_no_message("nothing from bob while blocked")
    check(not any(p["status"] == "blocked presence" for p in laptop.presences + phone.presences),
          "bob's presence reached alice while she blocks him")
    await bob.expect_no_message("nothing from alice while blocked")
    step("   bob bounced, alice bounced (not-acceptable, <blocked/>), no presence crossed")

    step("7. alice unblocks bob; his message arrives")
    unblock = ET.Element(f"{{{NS_BLOCKING}}}unblock")
    ET.SubElement(unblock, f"{{{NS_BLOCKING}}}item", {"jid": bob_bare})
    await laptop.set_iq(unblock, "alice unblocks bob")
    await until(lambda: any(i.xml.find(f"{{{NS_BLOCKING}}}unblock") is not None for i in phone.iq_sets),
                "the unblock push on the phone")
    body = CONVERSATION[3][1]
    bob.send_message(mto=laptop.boundjid.full, mbody=body, mtype="chat")
    await laptop.expect_chat(bob.boundjid, body, "bob's message after the unblock")
    await phone.carbon("received", body, "its carbon")

    step("8. bob types and writes to alice's bare JID: both devices get both, with alice's stanza-id")
    composing = bob.Message()
    composing["to"], composing["type"] = alice_bare, "chat"
    composing.append(ET.Element("{http://jabber.org/protocol/chatstates}composing"))
    composing.send()
    body = CONVERSATION[4][1]
    bob.send_message(mto=alice_bare, mbody=body, mtype="chat")
    for c in (laptop, phone):
        state = await c.next_message("bob's chat state")
        check(state.xml.find("{http://jabber.org/protocol/chatstates}composing") is not None,
              f"{c.label}: want bob's <composing/>, got {state}")
        got = await c.expect_chat(bob.boundjid, body, "bob's message to the bare JID")
        check(stanza_id(got, alice_bare) is not None, f"{c.label}: no stanza-id by {alice_bare}: {got}")
        await c.expect_no_message(f"{c.label}: no carbon of what every device got")
    for c in (bob, phone, laptop):
        await c.logout()


async def after(args):
    alice_bare = f"alice@{args.domain}"
    step("1. alice logs in after the restart and reads her archive")
    alice = await AccountClient(elsewhere(args), "alice", "tablet").login()
    got = await alice.archive("everything")
    want = [(f"{who}@{args.domain}", body) for who, body in CONVERSATION]
    check([(f, b) for f, b, _ in got] == want, f"alice's archive: {got}, want {want}")
    check(all(i for _, _, i in got), f"archive results without ids: {got}")
    step(f"   {len(got)} messages, sent and received, in order")
    found = await alice.archive("full-text", fields=[("{urn:xmpp:fulltext:0}fulltext", "\U0001F98A")])
    check([b for _, b, _ in found] == [CONVERSATION[2][1]], f"full-text search for the fox: {found}")
    rsm = ET.Element(f"{{{NS_RSM}}}set")
    ET.SubElement(rsm, f"{{{NS_RSM}}}max").text = "1"
    ET.SubElement(rsm, f"{{{NS_RSM}}}before")
    last = await alice.archive("last page", rsm=rsm)
    check([b for _, b, _ in last] == [CONVERSATION[-1][1]], f"the last page: {last}")
    step("   full-text search and the last page (RSM before) as expected")
    await alice.logout()


async def main(args):
    if args.phase == "before":
        await before(args)
    elif args.phase == "after":
        await after(args)
    else:
        raise Failure(f"unknown --phase {args.phase!r}")


if __name__ == "__main__":
    run(main, timeout=80)
