"""slixmpp against parleyd: what phones use (issue 13).

--phase csi: client state indication (XEP-0352, slixmpp's xep_0352).
    1. alice's phone sees urn:xmpp:csi:0 offered; she subscribes to bob's
       presence and bob approves.
    2. the phone says <inactive/>; bob changes his status five times and
       sends her a chat message: the message arrives at once, none of the
       presence updates does.
    3. the phone says <active/>: bob's latest presence (status 5) arrives,
       and only that one.

Needs --user alice:PW --user bob:PW.
"""

import asyncio

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slixclient import Client, check, iq, run, step, take_args, until

OWN = take_args({"--scenario": "csi"})


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


SCENARIOS = {"csi": csi}

if __name__ == "__main__":
    run(SCENARIOS[OWN["--scenario"]])
