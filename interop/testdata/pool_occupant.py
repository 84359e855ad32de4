"""One occupant of a room in a pool (issue 6): it joins the room on its
node, posts "NICK-N" every --interval seconds for --duration seconds and
records, in order, every live groupchat message it gets (body, stanza-id).
If its node dies and --fallback-port is given, it logs in again on that
node, rejoins, and catches up with MAM from the last stanza-id it saw
(XEP-0313 with RSM <after/>), then goes on posting. At the end it writes
what it saw to --out as JSON, for the Go test (interop/pool_test.go) to
compare with the room's history.
"""

import asyncio
import json
import time

from slixmpp import JID
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from muc import NS_MAM, MUCClient, kind, stanza_id, text_of
from slixclient import Failure, check, run, step, take_args

OWN = take_args({"--room": "", "--nick": "", "--out": "", "--duration": "12",
                 "--interval": "0.25", "--fallback-port": "0"})


def live_groupchat(s):
    return (kind(s) == "message" and s["type"] == "groupchat" and text_of(s, "body")
            and s.xml.find("{urn:xmpp:delay}delay") is None
            and s.xml.find(f"{{{NS_MAM}}}result") is None)


class Occupant:
    def __init__(self, args):
        self.args = args
        self.room = OWN["--room"]
        self.nick = OWN["--nick"]
        self.user = next(iter(args.passwords))
        self.received = []   # [body, stanza-id] of live groupchat messages, in order
        self.caught_up = []  # [body, stanza-id] from MAM after a reconnection
        self.reconnected_at = -1  # len(received) when the second session joined
        self.sent = 0
        self.client = None
        self.dropped = False

    def on_stanza(self, s):
        if live_groupchat(s):
            sid, _ = stanza_id(s)
            self.received.append([text_of(s, "body"), sid])

    async def connect(self, port):
        self.args.port = port
        c = MUCClient(self.args, self.user, self.nick)
        c.add_event_handler("disconnected", lambda _: setattr(self, "dropped", True))
        await c.login()
        c.register_handler(Callback("pool occupant: record", MatchXPath("{jabber:client}message"),
                                    self.on_stanza))
        await c.join(self.room, self.nick, f"join {self.room}", maxstanzas=0)
        step(f"{self.nick}: joined {self.room} on port {port}")
        self.client = c
        self.dropped = False

    async def post_until(self, deadline):
        while time.monotonic() < deadline and not self.dropped:
            body = f"{self.nick}-{self.sent}"
            self.sent += 1
            self.client.send_message(mto=JID(self.room), mbody=body, mtype="groupchat")
            await asyncio.sleep(float(OWN["--interval"]))

    async def catch_up(self):
        # From the last message the first session saw: live messages may
        # already have reached the second one before this query.
        seen = self.received[:self.reconnected_at]
        last = seen[-1][1] if seen else None
        rsm = {"max": "1000"}
        if last:
            rsm["after"] = last
        results, fin, _ = await self.client.mam_query(self.room, rsm=rsm, what="MAM catch-up")
        for r in results:
            fwd = r.xml.find(f"{{{NS_MAM}}}result")
            msg = fwd.find(".//{jabber:client}message")
            body = msg.find("{jabber:client}body")
            if body is not None:
                self.caught_up.append([body.text or "", fwd.get("id")])
        step(f"{self.nick}: MAM caught up {len(self.caught_up)} messages after {last}; "
             f"complete={fin.get('complete')}")


async def main(args):
    o = Occupant(args)
    check(o.room and o.nick and OWN["--out"], "--room, --nick and --out are required")
    deadline = time.monotonic() + float(OWN["--duration"])
    await o.connect(args.port)
    await o.post_until(deadline)
    fallback = int(OWN["--fallback-port"])
    if o.dropped and fallback and time.monotonic() < deadline:
        step(f"{o.nick}: disconnected; logging in again on port {fallback}")
        o.reconnected_at = len(o.received)
        for attempt in range(20):
            try:
                await o.connect(fallback)
                break
            except Failure as e:
                step(f"{o.nick}: reconnect attempt {attempt + 1}: {e}")
                await asyncio.sleep(0.5)
        else:
            raise Failure(f"{o.nick}: could not log in again on port {fallback}")
        await o.catch_up()
        await o.post_until(deadline)
    if not o.dropped:
        # Let the last reflections arrive.
        await asyncio.sleep(1.5)
    with open(OWN["--out"], "w") as f:
        json.dump({"nick": o.nick, "received": o.received, "caught_up": o.caught_up,
                   "reconnected_at": o.reconnected_at, "sent": o.sent, "dropped": o.dropped}, f)
    step(f"{o.nick}: sent {o.sent}, received {len(o.received)} live, "
         f"{len(o.caught_up)} from MAM")
    if o.client and not o.dropped:
        await o.client.logout()


if __name__ == "__main__":
    run(main)
