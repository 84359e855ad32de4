"""slixmpp against parleyd: what phones use (issue 13).

--phase csi: client state indication (XEP-0352, slixmpp's xep_0352).
    1. alice's phone sees urn:xmpp:csi:0 offered; she subscribes to bob's
       presence and bob approves.
    2. the phone says <inactive/>; bob changes his status five times and
       sends her a chat message: the message arrives at once, none of the
       presence updates does.
    3. the phone says <active/>: bob's latest presence (status 5) arrives,
       and only that one.

--scenario sm: stream management (XEP-0198, slixmpp's xep_0198).
    1. alice's phone logs in with stream management and resumption.
    2. bob sends her three messages; she gets them.
    3. her socket is killed (no close); bob sends 100 messages meanwhile.
    4. she reconnects and resumes: every one of the 100 arrives once, in
       order, and none of the first three again.

--scenario sm_timeout (parleyd with a short --sm-resume-timeout):
    alice's phone (xep_0198) acknowledges bob's first message, then its
    socket is killed; bob sends five more; the phone never comes back.
    When the session times out, the five are alice's offline messages at
    her next login, in order, and the acknowledged one is not.

--scenario push: push notifications (XEP-0357; slixmpp 1.8 has no
    xep_0357 plugin, so the phone sends the <enable/> IQ as XML).
    1. the "app server" (pushsrv, resource "push") logs in and answers
       every pubsub publish it gets.
    2. alice's phone (xep_0198, resumable) enables push to
       pushsrv@DOMAIN/push, node "phone-node", with publish-options (the
       app server's secret).
    3. the phone's socket is killed (the session is detached); bob writes
       to her: the app server gets a publish from alice@DOMAIN to the node,
       with the urn:xmpp:push:summary form (message-count 1,
       last-message-sender bob@DOMAIN, no body) and the secret in the
       publish-options.

--scenario pool_resume (two pool nodes; --other-port is the second's c2s
    port): alice's phone (xep_0198) logs in on the first node with
    resumption; its socket is killed and it reconnects to the second
    node: <resume/> fails with item-not-found (the session is the first
    node's), the phone binds a new session there with stream management
    again, and its message reaches bob on the first node.

Needs --user alice:PW --user bob:PW (and --user pushsrv:PW for push).
"""

import asyncio
import xml.etree.ElementTree as ET

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slixclient import Client, check, iq, run, step, take_args, until, wait_for

OWN = take_args({"--scenario": "csi", "--resume-timeout": "2", "--other-port": "0"})


class Phone(Client):
    def __init__(self, args, user, resource, plugins=()):
        super().__init__(args, user, resource)
        for p in plugins:
            self.register_plugin(p)
        self.presences = []
        self.register_handler(Callback("record presences", MatchXPath("{jabber:client}presence"),
                                       self.presences.append))

    async def sync(self):
        await iq(self["xep_0199"].send_ping(self.args.domain, timeout=10), f"{self.label} ping (sync)")


async def csi(args):
    d = args.domain
    step("1. alice's phone (xep_0352) and bob log in; alice subscribes to bob")
    alice = await Phone(args, "alice", "phone", ["xep_0352"]).login()
    bob = await Phone(args, "bob", "desk").login()
    check(alice["xep_0352"].enabled, "alice: urn:xmpp:csi:0 was not offered in the stream features")
    step("   urn:xmpp:csi:0 offered")
    alice.send_presence_subscription(pto=f"bob@{d}", ptype="subscribe")
    await until(lambda: any(p["type"] == "subscribe" for p in bob.presences), "bob to get the request")
    bob.send_presence(pto=f"alice@{d}", ptype="subscribed")
    await until(lambda: any(p["from"].bare == f"bob@{d}" and p["type"] == "available" for p in alice.presences),
                "alice to see bob online after the approval")
    await alice.sync()

    step("2. alice's phone goes inactive; bob's status changes 5 times, then he writes")
    alice["xep_0352"].send_inactive()
    await alice.sync()
    alice.presences.clear()
    for i in range(1, 6):
        bob.send_presence(pstatus=f"status {i}")
    bob.send_message(mto=f"alice@{d}", mbody="are you there?", mtype="chat")
    await bob.sync()
    await alice.expect_chat(bob.boundjid, "are you there?", "bob's message while inactive")
    await alice.sync()
    await asyncio.sleep(0.5)
    from_bob = [p for p in alice.presences if p["from"].bare == f"bob@{d}"]
    check(not from_bob, f"alice got bob's presence while inactive: {[str(p) for p in from_bob]}")
    step("   the message came at once, no presence")

    step("3. alice's phone is active again")
    alice["xep_0352"].send_active()
    await until(lambda: any(p["from"].bare == f"bob@{d}" for p in alice.presences), "bob's held presence")
    await alice.sync()
    await asyncio.sleep(0.5)
    from_bob = [p for p in alice.presences if p["from"].bare == f"bob@{d}"]
    check(len(from_bob) == 1 and from_bob[0]["status"] == "status 5",
          f"on <active/> alice got {[str(p) for p in from_bob]}, want bob's latest (status 5) only")
    step("   one presence, the latest: status 5")
    await alice.logout()
    await bob.logout()


async def sm(args):
    d = args.domain
    step("1. alice's phone (xep_0198) logs in; stream management with resumption")
    alice = await Phone(args, "alice", "phone", ["xep_0198"]).login()
    sm = alice["xep_0198"]
    check(sm.sm_id, "alice: stream management was not enabled with resumption (no id)")
    step(f"   enabled, id {sm.sm_id}")
    bob = await Phone(args, "bob", "desk").login()

    step("2. bob sends three messages; alice gets them")
    for i in range(1, 4):
        bob.send_message(mto=f"alice@{d}", mbody=f"before {i}", mtype="chat")
    for i in range(1, 4):
        await alice.expect_chat(bob.boundjid, f"before {i}", f"message {i}")

    step("3. alice's socket is killed; bob sends 100 messages")
    gone = asyncio.get_running_loop().create_future()
    alice.add_event_handler("disconnected", lambda e: gone.done() or gone.set_result(e), disposable=True)
    alice.transport.abort()
    await asyncio.wait_for(gone, 10)
    for i in range(100):
        bob.send_message(mto=f"alice@{d}", mbody=f"while away {i}", mtype="chat")
    await bob.sync()

    step("4. alice reconnects and resumes")
    resumed = asyncio.get_running_loop().create_future()
    alice.add_event_handler("session_resumed", lambda s: resumed.done() or resumed.set_result(s), disposable=True)
    alice.connect((args.host, args.port))
    await asyncio.wait_for(resumed, 15)
    step("   resumed")
    got = []
    while len(got) < 100:
        msg = await alice.next_message(f"message {len(got)} of 100 after resuming")
        if msg["body"]:
            got.append(msg["body"])
    want = [f"while away {i}" for i in range(100)]
    check(got == want, f"after resuming got {got[:5]}... ({len(got)}), want the 100 in order")
    await alice.sync()
    await asyncio.sleep(0.5)
    extra = []
    while not alice.messages.empty():
        m = alice.messages.get_nowait()
        if m["body"]:
            extra.append(m["body"])
    check(not extra, f"delivered again after resuming: {extra}")
    step("   all 100 once, in order; nothing twice")
    await alice.logout()
    await bob.logout()


async def sm_timeout(args):
    d = args.domain
    timeout = float(OWN["--resume-timeout"])
    step("1. alice's phone (xep_0198) and bob log in; alice acknowledges bob's first message")
    alice = await Phone(args, "alice", "phone", ["xep_0198"]).login()
    check(alice["xep_0198"].sm_id, "alice: no resumable stream management")
    bob = await Phone(args, "bob", "desk").login()
    bob.send_message(mto=f"alice@{d}", mbody="acknowledged", mtype="chat")
    await alice.expect_chat(bob.boundjid, "acknowledged", "the first message")
    alice["xep_0198"].send_ack()
    await alice.sync()

    step("2. alice's socket is killed; bob sends five messages; she never resumes")
    alice.transport.abort()
    await asyncio.sleep(0.3)
    for i in range(5):
        bob.send_message(mto=f"alice@{d}", mbody=f"lost? {i}", mtype="chat")
    await bob.sync()
    await asyncio.sleep(timeout + 1.5)

    step("3. alice logs in on another device: the five are her offline messages")
    desk = await Phone(args, "alice", "laptop").login()
    for i in range(5):
        await desk.expect_chat(bob.boundjid, f"lost? {i}", f"offline message {i}", delayed=True)
    await desk.expect_no_message("nothing else (the acknowledged message is not stored again)")
    await desk.logout()
    await bob.logout()


NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_DATA = "jabber:x:data"


def form_values(x):
    return {f.get("var"): [v.text or "" for v in f.findall(f"{{{NS_DATA}}}value")]
            for f in x.findall(f"{{{NS_DATA}}}field")}


async def push(args):
    d = args.domain
    step("1. the app server (pushsrv/push) logs in and answers publishes")
    app = await Phone(args, "pushsrv", "push").login()
    publishes = []

    def on_publish(stanza):
        publishes.append(stanza)
        stanza.reply().send()

    app.register_handler(Callback("push publishes", MatchXPath(f"{{jabber:client}}iq/{{{NS_PUBSUB}}}pubsub"), on_publish))

    step("2. alice's phone (xep_0198) enables push to pushsrv@%s/push" % d)
    alice = await Phone(args, "alice", "phone", ["xep_0198"]).login()
    check(alice["xep_0198"].sm_id, "alice: no resumable stream management")
    enable = ET.fromstring(
        f"<enable xmlns='urn:xmpp:push:0' jid='pushsrv@{d}/push' node='phone-node'>"
        f"<x xmlns='{NS_DATA}' type='submit'>"
        f"<field var='FORM_TYPE'><value>{NS_PUBSUB}#publish-options</value></field>"
        "<field var='secret'><value>app-server-secret</value></field></x></enable>")
    req = alice.make_iq_set(ito=f"alice@{d}")
    req.append(enable)
    await iq(req.send(timeout=10), "alice: enable push")
    bob = await Phone(args, "bob", "desk").login()

    step("3. alice's socket is killed; bob writes to her")
    alice.transport.abort()
    await asyncio.sleep(0.5)
    bob.send_message(mto=f"alice@{d}", mbody="wake up", mtype="chat")
    await until(lambda: publishes, "the app server to get a publish")
    pub = publishes[0]
    check(pub["from"] == f"alice@{d}", f"the publish comes from {pub['from']}, want alice@{d}")
    ps = pub.xml.find(f"{{{NS_PUBSUB}}}pubsub")
    node = ps.find(f"{{{NS_PUBSUB}}}publish")
    check(node is not None and node.get("node") == "phone-node", f"publish to {ET.tostring(ps)}")
    summary = node.find(f"{{{NS_PUBSUB}}}item/{{urn:xmpp:push:0}}notification/{{{NS_DATA}}}x")
    check(summary is not None, f"no notification form in {ET.tostring(ps)}")
    v = form_values(summary)
    check(v.get("FORM_TYPE") == ["urn:xmpp:push:summary"], f"form type {v.get('FORM_TYPE')}")
    check(v.get("message-count") == ["1"], f"message-count {v.get('message-count')}, want 1")
    check(v.get("last-message-sender") == [f"bob@{d}"], f"last-message-sender {v.get('last-message-sender')}")
    check("last-message-body" not in v, "the body went to the app server")
    opts = ps.find(f"{{{NS_PUBSUB}}}publish-options/{{{NS_DATA}}}x")
    check(opts is not None and form_values(opts).get("secret") == ["app-server-secret"],
          "the publish-options (the app server's secret) were not passed on")
    step("   the app server got the summary: 1 message from bob, no body, with its secret")
    await bob.logout()
    await app.logout()


async def pool_resume(args):
    d = args.domain
    step("1. alice's phone (xep_0198) logs in on the first node; bob too")
    alice = await Phone(args, "alice", "phone", ["xep_0198"]).login()
    old_id = alice["xep_0198"].sm_id
    check(old_id, "alice: no resumable stream management")
    bob = await Phone(args, "bob", "desk").login()
    failed = []
    alice.register_handler(Callback("SM failed", MatchXPath("{urn:xmpp:sm:3}failed"), failed.append))

    step("2. her socket is killed; she reconnects to the other node")
    gone = asyncio.get_running_loop().create_future()
    alice.add_event_handler("disconnected", lambda e: gone.done() or gone.set_result(e), disposable=True)
    alice.transport.abort()
    await asyncio.wait_for(gone, 10)
    bound = asyncio.get_running_loop().create_future()
    alice.add_event_handler("session_bind", lambda j: bound.done() or bound.set_result(j), disposable=True)
    alice.connect((args.host, int(OWN["--other-port"])))
    await wait_for(bound, "alice to bind a new session on the other node")
    check(failed, "the other node did not answer <resume/> with <failed/>")
    cond = [c.tag for c in failed[0].xml]
    check("{urn:ietf:params:xml:ns:xmpp-stanzas}item-not-found" in cond, f"<failed/> with {cond}, want item-not-found")
    step("   <resume/> failed with item-not-found; a new session is bound")
    await until(lambda: alice["xep_0198"].sm_id and alice["xep_0198"].sm_id != old_id,
                "stream management to be enabled again on the new session")
    await alice.sync()
    alice.send_presence()
    alice.send_message(mto=f"bob@{d}", mbody="from the other node", mtype="chat")
    await bob.expect_chat(alice.boundjid, "from the other node", "alice's message across the pool")
    step("   the new session works: bob got her message")
    await alice.logout()
    await bob.logout()


SCENARIOS = {"csi": csi, "sm": sm, "sm_timeout": sm_timeout, "push": push, "pool_resume": pool_resume}

if __name__ == "__main__":
    run(SCENARIOS[OWN["--scenario"]])
